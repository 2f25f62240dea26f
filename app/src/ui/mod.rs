pub mod components;
pub mod live;
pub mod pages;
