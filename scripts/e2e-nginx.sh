#!/usr/bin/env bash
# nginx in front of Gatehouse and the product, for Playwright, configured as README's
# "Forward-auth" section shows: /app/ is the product, behind auth_request to Gatehouse's
# /forward-auth; everything else is Gatehouse. Usage: e2e-nginx.sh PORT GATEHOUSE_PORT PRODUCT_PORT
set -euo pipefail
port=${1:-3100}; gatehouse=${2:-3197}; product=${3:-3196}
dir=$(mktemp -d /tmp/gatehouse-nginx.XXXXXX)
chmod 777 "$dir"
cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
error_log stderr warn;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  client_max_body_size 2m;
  upstream gatehouse { server 127.0.0.1:$gatehouse; keepalive 16; }
  # The product never sees Gatehouse's session cookie (a bearer credential for Gatehouse
  # itself); it learns who is signed in from the identity headers.
  map \$http_cookie \$gh_product_cookie {
    default \$http_cookie;
    "~^(?<gh_pre>.*?)(?:^|;\s*)(?:__Host-)?gatehouse_session=[^;]*(?<gh_post>.*)\$" "\$gh_pre\$gh_post";
  }

  server {
    listen 127.0.0.1:$port;

    # The product: every request is asked of Gatehouse first.
    location /app/ {
      auth_request /_gatehouse/forward-auth;
      auth_request_set \$gh_member \$upstream_http_x_gatehouse_member_id;
      auth_request_set \$gh_email \$upstream_http_x_gatehouse_email;
      auth_request_set \$gh_name \$upstream_http_x_gatehouse_name;
      auth_request_set \$gh_role \$upstream_http_x_gatehouse_role;
      auth_request_set \$gh_workspace \$upstream_http_x_gatehouse_workspace;
      auth_request_set \$gh_groups \$upstream_http_x_gatehouse_groups;
      auth_request_set \$gh_groups_truncated \$upstream_http_x_gatehouse_groups_truncated;
      auth_request_set \$gh_resource \$upstream_http_x_gatehouse_resource;
      auth_request_set \$gh_access \$upstream_http_x_gatehouse_access;
      auth_request_set \$gh_sign_in \$upstream_http_x_gatehouse_sign_in;
      # Set, so the client's own headers of these names never reach the product.
      proxy_set_header X-Gatehouse-Member-Id \$gh_member;
      proxy_set_header X-Gatehouse-Email \$gh_email;
      proxy_set_header X-Gatehouse-Name \$gh_name;
      proxy_set_header X-Gatehouse-Role \$gh_role;
      proxy_set_header X-Gatehouse-Workspace \$gh_workspace;
      proxy_set_header X-Gatehouse-Groups \$gh_groups;
      proxy_set_header X-Gatehouse-Groups-Truncated \$gh_groups_truncated;
      proxy_set_header X-Gatehouse-Resource \$gh_resource;
      proxy_set_header X-Gatehouse-Access \$gh_access;
      proxy_set_header Host \$http_host;
      proxy_set_header Cookie \$gh_product_cookie;
      error_page 401 = @sign_in;
      error_page 403 = @missing;
      proxy_pass http://127.0.0.1:$product;
    }
    location = /_gatehouse/forward-auth {
      internal;
      proxy_pass http://gatehouse/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      # Room for every identity header (groups alone may take 2 KB).
      proxy_buffer_size 8k;
      proxy_set_header X-Original-URI \$request_uri;
      proxy_set_header X-Original-Method \$request_method;
      # Read only in Traefik/Caddy mode; never pass a client's own.
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location @sign_in { return 302 \$gh_sign_in; }
    location @missing { return 404 "Not found.\n"; }

    # Gatehouse itself (its pages, sign-in, SAML, SCIM, live updates).
    location / {
      proxy_pass http://gatehouse;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
CONF
exec nginx -e stderr -p "$dir" -c "$dir/nginx.conf"
