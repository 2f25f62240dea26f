#!/usr/bin/env node
// Self-check of scripts/interop/oidc_provider.mjs, acting as a plain HTTP client with its own
// cookie jar (no browser, no Rust). Starts each profile, runs code flows with PKCE S256 + state +
// nonce, exchanges codes with client_secret_basic, verifies the id_token signature and claims, and
// checks the negative cases. Ends with `N passed, N failed`; exits non-zero on any failure.
//
//   node scripts/interop/oidc_selfcheck.mjs [--profile google|microsoft|slack]...

import { spawn } from 'node:child_process';
import {
  createHash, createPublicKey, randomBytes, verify as cryptoVerify,
} from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const PROVIDER = join(HERE, 'oidc_provider.mjs');
const CLIENT_ID = 'gatehouse-test';
const CLIENT_SECRET = 'gatehouse-secret';
const REDIRECT = 'http://127.0.0.1:9/auth/oidc/callback'; // nothing listens there; we read Location
const REDIRECT2 = 'http://127.0.0.1:9/other/callback';

const { values: opts } = parseArgs({ options: { profile: { type: 'string', multiple: true } } });
const profiles = opts.profile ?? ['google', 'microsoft', 'slack'];

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? ` -- ${detail}` : ''}`);
  }
  return ok;
}
const eq = (name, got, want) => check(name, JSON.stringify(got) === JSON.stringify(want), `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);

// ---------------------------------------------------------------------------------------------
// A minimal cookie jar (host-only cookies on 127.0.0.1; path matching; Max-Age/Expires deletion)

class Jar {
  constructor() { this.cookies = new Map(); } // key name|path -> {name, value, path}

  store(res, url) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eqi = pair.indexOf('=');
      const name = pair.slice(0, eqi).trim();
      const value = pair.slice(eqi + 1).trim();
      let path = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim();
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const id = `${name}|${path}`;
      if (expired || value === '') this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const p = new URL(url).pathname;
    return [...this.cookies.values()]
      .filter((c) => p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names() { return [...this.cookies.values()].map((c) => c.name); }
}

async function request(jar, method, url, { form, headers = {} } = {}) {
  const h = { ...headers };
  const cookie = jar?.header(url);
  if (cookie) h.cookie = cookie;
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, {
    method, headers: h, body, redirect: 'manual',
  });
  jar?.store(res, url);
  const text = await res.text();
  const location = res.headers.get('location');
  return {
    status: res.status,
    location: location ? new URL(location, url).href : null,
    text,
    headers: res.headers,
    setCookies: res.headers.getSetCookie(),
  };
}

// ---------------------------------------------------------------------------------------------
// Provider process

async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

async function startProvider(profile) {
  const port = await freePort();
  const t0 = Date.now();
  const child = spawn(process.execPath, [PROVIDER, '--port', String(port), '--profile', profile,
    '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET,
    '--redirect-uri', REDIRECT, '--redirect-uri', REDIRECT2], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const issuer = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no READY in 20 s; stderr: ${stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^READY (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`provider exited ${code}; stderr: ${stderr}`)));
  });
  return {
    child, issuer, port, startMs: Date.now() - t0, stderr: () => stderr,
  };
}

// ---------------------------------------------------------------------------------------------
// Client helpers

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

function authUrl(disc, {
  clientId = CLIENT_ID, redirectUri = REDIRECT, scope = 'openid email profile', state, nonce,
  challenge, extra = {},
}) {
  const u = new URL(disc.authorization_endpoint);
  const q = {
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state, nonce,
  };
  if (challenge) Object.assign(q, { code_challenge: challenge, code_challenge_method: 'S256' });
  Object.assign(q, extra);
  for (const [k, v] of Object.entries(q)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

// Runs the non-browser steps; returns the final redirect (URL object) and the trail of statuses.
async function signIn(disc, jar, login, params = {}) {
  const trail = [];
  const first = await request(jar, 'GET', authUrl(disc, params));
  trail.push(first.status);
  if (first.status !== 303 || !new URL(first.location).pathname.startsWith('/interaction/')) {
    return { trail, first };
  }
  const interactionUrl = first.location;
  const formPage = await request(jar, 'GET', interactionUrl);
  trail.push(formPage.status);
  const posted = await request(jar, 'POST', interactionUrl, { form: login === null ? { action: 'cancel' } : { login } });
  trail.push(posted.status);
  let res = posted;
  let hops = 0;
  while (res.status === 303 && !res.location.startsWith(params.redirectUri ?? REDIRECT) && hops < 5) {
    res = await request(jar, 'GET', res.location);
    trail.push(res.status);
    hops += 1;
  }
  return {
    trail, first, formPage, posted, final: res, callback: res.location ? new URL(res.location) : null,
  };
}

async function token(disc, form, { clientId = CLIENT_ID, secret = CLIENT_SECRET, auth = 'basic' } = {}) {
  const headers = { accept: 'application/json' };
  const body = { grant_type: 'authorization_code', ...form };
  if (auth === 'basic') {
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}`;
  } else {
    Object.assign(body, { client_id: clientId, client_secret: secret });
  }
  const res = await request(null, 'POST', disc.token_endpoint, { form: body, headers });
  let json = null;
  try { json = JSON.parse(res.text); } catch { /* not json */ }
  return { status: res.status, json };
}

function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

function verifyJwt(jwt, jwks) {
  const t = decodeJwt(jwt);
  const jwk = jwks.keys.find((k) => k.kid === t.header.kid);
  if (!jwk || t.header.alg !== 'RS256') return { ...t, valid: false };
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return { ...t, valid: cryptoVerify('sha256', Buffer.from(t.signingInput), key, t.signature) };
}

// ---------------------------------------------------------------------------------------------
// The checks

const EXPECT = {
  google: {
    'alice@acme.test': {
      email: 'alice@acme.test', email_verified: true, name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', hd: 'acme.test',
    },
  },
  microsoft: {
    'alice@acme.test': {
      email: 'alice@acme.test', preferred_username: 'alice@acme.test', name: 'Alice Liddell', tid: '9188040d-6c67-4c5b-b112-36a304b66dad', xms_edov: true,
    },
  },
  slack: {
    'alice@acme.test': {
      email: 'alice@acme.test', email_verified: true, name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', 'https://slack.com/team_id': 'T0001', 'https://slack.com/team_name': 'Acme',
    },
  },
};

// One full flow: sign in, check the redirect, exchange, verify. Returns the id_token payload.
async function fullFlow(p, disc, jwks, login, {
  clientId = CLIENT_ID, secret = CLIENT_SECRET, label = login, scope, auth = 'basic', jar = new Jar(), extra,
} = {}) {
  const { verifier, challenge } = pkce();
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const r = await signIn(disc, jar, login, {
    clientId, state, nonce, challenge, scope, extra,
  });
  const cb = r.callback;
  if (!check(`${p}/${label}: GET auth 303 -> GET form 200 -> POST 303 -> GET 303 -> redirect_uri`,
    JSON.stringify(r.trail) === '[303,200,303,303]' && cb && cb.href.startsWith(REDIRECT),
    `trail ${JSON.stringify(r.trail)} final ${r.final?.location}`)) return null;
  check(`${p}/${label}: redirect has code, state, iss`, cb.searchParams.get('code')
    && cb.searchParams.get('state') === state && cb.searchParams.get('iss') === disc.issuer, cb.href);
  const t = await token(disc, {
    code: cb.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: verifier,
  }, { clientId, secret, auth });
  if (!check(`${p}/${label}: token exchange (${auth}) 200`, t.status === 200 && t.json?.id_token, JSON.stringify(t))) return null;
  eq(`${p}/${label}: token_type`, t.json.token_type, 'Bearer');
  const v = verifyJwt(t.json.id_token, jwks);
  check(`${p}/${label}: id_token RS256 signature verifies with the JWKS`, v.valid && v.header.alg === 'RS256');
  const c = v.payload;
  const now = Math.floor(Date.now() / 1000);
  check(`${p}/${label}: id_token iss/aud/nonce/exp/iat`, c.iss === disc.issuer && c.aud === clientId && c.nonce === nonce
    && c.exp > now && c.iat <= now + 5, JSON.stringify(c));
  return {
    claims: c, tokens: t.json, verifier, cb, jar,
  };
}

async function runProfile(p) {
  const prov = await startProvider(p);
  console.log(`# ${p}: READY ${prov.issuer} after ${prov.startMs} ms`);
  try {
    eq(`${p}: issuer`, prov.issuer, `http://127.0.0.1:${prov.port}`);
    const d = await request(null, 'GET', `${prov.issuer}/.well-known/openid-configuration`);
    check(`${p}: discovery 200`, d.status === 200, d.text.slice(0, 200));
    const disc = JSON.parse(d.text);
    eq(`${p}: discovery issuer`, disc.issuer, prov.issuer);
    eq(`${p}: discovery endpoints`, [disc.authorization_endpoint, disc.token_endpoint, disc.jwks_uri, disc.userinfo_endpoint],
      ['/auth', '/token', '/jwks', '/me'].map((x) => prov.issuer + x));
    eq(`${p}: response_types_supported`, disc.response_types_supported, ['code']);
    eq(`${p}: code_challenge_methods_supported`, disc.code_challenge_methods_supported, ['S256']);
    eq(`${p}: authorization_response_iss_parameter_supported`, disc.authorization_response_iss_parameter_supported, true);
    check(`${p}: RS256 id_token signing advertised`, disc.id_token_signing_alg_values_supported?.includes('RS256'));
    check(`${p}: client_secret_basic advertised`, disc.token_endpoint_auth_methods_supported?.includes('client_secret_basic'));
    check(`${p}: scopes openid email profile`, ['openid', 'email', 'profile'].every((s) => disc.scopes_supported?.includes(s)), JSON.stringify(disc.scopes_supported));
    const j = await request(null, 'GET', disc.jwks_uri);
    const jwks = JSON.parse(j.text);
    check(`${p}: JWKS has one public RSA key`, j.status === 200 && jwks.keys.length === 1 && jwks.keys[0].kty === 'RSA'
      && jwks.keys[0].kid && !jwks.keys[0].d, j.text.slice(0, 200));
    eq(`${p}: healthz`, (await request(null, 'GET', `${prov.issuer}/healthz`)).text, 'ok');

    // The login page: plain HTML, no script, nothing external, expected field names.
    {
      const jar = new Jar();
      const { challenge } = pkce();
      const first = await request(jar, 'GET', authUrl(disc, { state: 's', nonce: 'n', challenge }));
      const uid = new URL(first.location).pathname.split('/')[2];
      eq(`${p}: cookies set by GET auth`, jar.names().sort(), [`_gh_oidc_${p}_${prov.port}_interaction`, `_gh_oidc_${p}_${prov.port}_resume`]);
      const html = (await request(jar, 'GET', first.location)).text;
      check(`${p}: login form posts to /interaction/{uid}`, html.includes(`<form method="post" action="/interaction/${uid}"`));
      check(`${p}: login form has input name=login labelled Email`, html.includes('<label for="login">Email</label>') && html.includes('id="login" name="login" type="text"'));
      check(`${p}: login form has password field and Sign-in / Cancel buttons`, html.includes('name="password" type="password"')
        && html.includes('<button type="submit" name="action" value="login">Sign-in</button>')
        && html.includes('value="cancel" formnovalidate>Cancel</button>'));
      check(`${p}: login page has no script and no external resources`, !/<script|javascript:|https?:\/\/(?!127\.0\.0\.1)[^"\s<]*\.(css|js|woff)|@import|src=/i.test(html));
      const bad = await request(jar, 'POST', first.location, { form: { login: 'not-an-email' } });
      check(`${p}: bad login -> 400 with the form and an error`, bad.status === 400 && bad.text.includes('role="alert"') && bad.text.includes('name="login"'));
      const unknown = await request(jar, 'POST', first.location, { form: { login: 'a@acme.test;nosuchclaim=1' } });
      check(`${p}: unknown claim key -> 400`, unknown.status === 400 && unknown.text.includes('unknown claim'));
      const noCookie = await request(new Jar(), 'POST', first.location, { form: { login: 'alice@acme.test' } });
      check(`${p}: POST without the interaction cookie -> 400`, noCookie.status === 400, String(noCookie.status));
    }

    // Happy path for the default user.
    const alice = await fullFlow(p, disc, jwks, 'alice@acme.test');
    if (alice) {
      const c = alice.claims;
      for (const [k, want] of Object.entries(EXPECT[p]['alice@acme.test'])) eq(`${p}/alice: claim ${k}`, c[k], want);
      check(`${p}/alice: no session cookie kept (no SSO)`, !alice.jar.names().some((n) => n.endsWith('_session')), alice.jar.names().join(','));
      if (p === 'google') {
        check('google/alice: sub is 21 digits', /^\d{21}$/.test(c.sub), c.sub);
        check('google/alice: no picture, no email-less claims', !('picture' in c));
      }
      if (p === 'microsoft') {
        check('microsoft/alice: oid is GUID-shaped', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(c.oid), c.oid);
        check('microsoft/alice: sub is 43 base64url chars, no email_verified', /^[A-Za-z0-9_-]{43}$/.test(c.sub) && !('email_verified' in c), c.sub);
      }
      if (p === 'slack') {
        check('slack/alice: sub = https://slack.com/user_id = U...', /^U[A-Z0-9]{10}$/.test(c.sub) && c['https://slack.com/user_id'] === c.sub, c.sub);
      }
      // userinfo with the access token
      const ui = await request(null, 'GET', disc.userinfo_endpoint, { headers: { authorization: `Bearer ${alice.tokens.access_token}` } });
      check(`${p}/alice: userinfo 200 with the same sub and email`, ui.status === 200 && JSON.parse(ui.text).sub === c.sub
        && JSON.parse(ui.text).email === c.email, ui.text.slice(0, 200));
      // replayed code
      const replay = await token(disc, { code: alice.cb.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: alice.verifier });
      eq(`${p}/alice: replayed code -> 400 invalid_grant`, [replay.status, replay.json?.error], [400, 'invalid_grant']);
      const after = await request(null, 'GET', disc.userinfo_endpoint, { headers: { authorization: `Bearer ${alice.tokens.access_token}` } });
      eq(`${p}/alice: access token from a replayed code is revoked (userinfo 401)`, after.status, 401);

      // Stable sub: the same email again (case-insensitively) gives the same sub.
      const again = await fullFlow(p, disc, jwks, 'Alice@ACME.test', { label: 'Alice@ACME.test' });
      if (again) {
        eq(`${p}: sub is stable across sign-ins and email case`, again.claims.sub, c.sub);
        eq(`${p}: email claim keeps the case as typed`, again.claims.email, 'Alice@ACME.test');
      }
    }

    // Wrong code_verifier -> invalid_grant; the code is not burnt by that (oidc-provider checks
    // PKCE before consuming), so the right verifier still works afterwards.
    {
      const jar = new Jar();
      const { verifier, challenge } = pkce();
      const r = await signIn(disc, jar, 'bob@acme.test', { state: 'st', nonce: 'nn', challenge });
      const code = r.callback?.searchParams.get('code');
      const wrong = await token(disc, { code, redirect_uri: REDIRECT, code_verifier: pkce().verifier });
      eq(`${p}: wrong code_verifier -> 400 invalid_grant`, [wrong.status, wrong.json?.error], [400, 'invalid_grant']);
      const none = await token(disc, { code, redirect_uri: REDIRECT });
      eq(`${p}: missing code_verifier -> 400 invalid_grant`, [none.status, none.json?.error], [400, 'invalid_grant']);
      const wrongRedirect = await token(disc, { code, redirect_uri: REDIRECT2, code_verifier: verifier });
      eq(`${p}: other registered redirect_uri at the token endpoint -> 400 invalid_grant`, [wrongRedirect.status, wrongRedirect.json?.error], [400, 'invalid_grant']);
      const badSecret = await token(disc, { code, redirect_uri: REDIRECT, code_verifier: verifier }, { secret: 'nope' });
      eq(`${p}: wrong client secret -> 401 invalid_client`, [badSecret.status, badSecret.json?.error], [401, 'invalid_client']);
      const stolen = await token(disc, { code, redirect_uri: REDIRECT, code_verifier: verifier }, { clientId: 'intruder', secret: 'intruder-secret' });
      eq(`${p}: our code redeemed by intruder -> 400 invalid_grant`, [stolen.status, stolen.json?.error], [400, 'invalid_grant']);
      const ok = await token(disc, { code, redirect_uri: REDIRECT, code_verifier: verifier });
      check(`${p}: right verifier after a wrong one still works (code not burnt)`, ok.status === 200, JSON.stringify(ok.json));
    }

    // client_secret_post works too.
    await fullFlow(p, disc, jwks, 'dave@acme.test', { auth: 'post', label: 'dave (client_secret_post)' });

    // The intruder client: its own flow works; its code can't be redeemed by our client.
    {
      const mine = await fullFlow(p, disc, jwks, 'eve@outside.test', { clientId: 'intruder', secret: 'intruder-secret', label: 'intruder client' });
      if (mine) eq(`${p}: intruder id_token aud`, mine.claims.aud, 'intruder');
      const jar = new Jar();
      const { verifier, challenge } = pkce();
      const r = await signIn(disc, jar, 'eve@outside.test', {
        clientId: 'intruder', state: 'x', nonce: 'y', challenge,
      });
      const t = await token(disc, { code: r.callback?.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: verifier });
      eq(`${p}: intruder's code redeemed by our client -> 400 invalid_grant`, [t.status, t.json?.error], [400, 'invalid_grant']);
    }

    // Two users one after the other in the same cookie jar: the login page comes back each time.
    {
      const jar = new Jar();
      const a = await fullFlow(p, disc, jwks, 'alice@acme.test', { jar, label: 'same-jar 1 alice' });
      const b = await fullFlow(p, disc, jwks, 'bob@acme.test', { jar, label: 'same-jar 2 bob' });
      if (a && b) check(`${p}: second user in the same jar gets their own sub`, a.claims.sub !== b.claims.sub && b.claims.email === 'bob@acme.test');
    }

    // prompt=select_account and prompt=consent are accepted and answered by the same form.
    await fullFlow(p, disc, jwks, 'alice@acme.test', { extra: { prompt: 'select_account' }, label: 'prompt=select_account' });
    await fullFlow(p, disc, jwks, 'alice@acme.test', { extra: { prompt: 'consent' }, label: 'prompt=consent' });
    {
      const { challenge } = pkce();
      const r = await request(new Jar(), 'GET', authUrl(disc, { state: 'pn', nonce: 'n', challenge, extra: { prompt: 'none' } }));
      const u = r.location ? new URL(r.location) : null;
      eq(`${p}: prompt=none -> login_required at redirect_uri with state and iss`,
        [r.status, u?.searchParams.get('error'), u?.searchParams.get('state'), u?.searchParams.get('iss')],
        [303, 'login_required', 'pn', disc.issuer]);
    }

    // Scope openid only: no email/profile claims in the id_token.
    {
      const r = await fullFlow(p, disc, jwks, 'alice@acme.test', { scope: 'openid', label: 'scope=openid' });
      if (r) check(`${p}: scope=openid -> no email or name claims`, !('email' in r.claims) && !('name' in r.claims), JSON.stringify(r.claims));
    }

    // Cancel -> access_denied at the redirect URI with state and iss.
    {
      const r = await signIn(disc, new Jar(), null, { state: 'cancel-state', nonce: 'n', challenge: pkce().challenge });
      const u = r.callback;
      eq(`${p}: Cancel -> access_denied with state and iss`,
        [u?.searchParams.get('error'), u?.searchParams.get('state'), u?.searchParams.get('iss')],
        ['access_denied', 'cancel-state', disc.issuer]);
    }

    // No PKCE -> error redirect; unregistered redirect_uri -> error page, no redirect.
    {
      const r = await request(new Jar(), 'GET', authUrl(disc, { state: 'np', nonce: 'n' }));
      const u = r.location ? new URL(r.location) : null;
      eq(`${p}: no code_challenge -> invalid_request at redirect_uri`, [r.status, u?.searchParams.get('error'), u?.searchParams.get('state')], [303, 'invalid_request', 'np']);
      const bad = await request(new Jar(), 'GET', authUrl(disc, {
        state: 's', nonce: 'n', challenge: pkce().challenge, redirectUri: 'http://127.0.0.1:9/evil',
      }));
      check(`${p}: unregistered redirect_uri -> 400 page, no redirect`, bad.status === 400 && !bad.location && !/<script|@import/.test(bad.text), `${bad.status} ${bad.location}`);
      const unknownClient = await request(new Jar(), 'GET', authUrl(disc, {
        clientId: 'nobody', state: 's', nonce: 'n', challenge: pkce().challenge,
      }));
      check(`${p}: unknown client_id -> 400 page`, unknownClient.status === 400 && !unknownClient.location);
    }

    // Account syntax per profile.
    if (p === 'google') {
      const bob = await fullFlow(p, disc, jwks, 'bob@acme.test;email_verified=false;hd=other.test', { label: 'bob overrides' });
      if (bob) eq('google/bob: overrides', [bob.claims.email_verified, bob.claims.hd], [false, 'other.test']);
      const g = await fullFlow(p, disc, jwks, 'jane.doe@gmail.com', { label: 'gmail user' });
      if (g) eq('google/gmail: no hd, names from local part', [g.claims.hd, g.claims.given_name, g.claims.family_name], [undefined, 'Jane', 'Doe']);
      const nohd = await fullFlow(p, disc, jwks, 'carol@acme.test;hd=;picture=http://127.0.0.1/p.png', { label: 'hd removed' });
      if (nohd) eq('google/carol: hd= removes, picture= adds', [nohd.claims.hd, nohd.claims.picture, nohd.claims.family_name], [undefined, 'http://127.0.0.1/p.png', 'Tester']);
      // Two sign-ins of the same email with different claims, redeemed out of order: each code
      // carries its own claims (same sub).
      const pend = [];
      for (const login of ['zoe@acme.test;email_verified=false;name=Zoe One', 'zoe@acme.test;name=Zoe Two']) {
        const { verifier, challenge } = pkce();
        const r = await signIn(disc, new Jar(), login, { state: 's', nonce: 'n', challenge });
        pend.push({ code: r.callback?.searchParams.get('code'), verifier });
      }
      const got = [];
      for (const x of pend.reverse()) {
        const t = await token(disc, { code: x.code, redirect_uri: REDIRECT, code_verifier: x.verifier });
        const c = t.json?.id_token ? decodeJwt(t.json.id_token).payload : {};
        const ui = t.json?.access_token ? JSON.parse((await request(null, 'GET', disc.userinfo_endpoint, { headers: { authorization: `Bearer ${t.json.access_token}` } })).text) : {};
        got.push([c.name, c.email_verified, ui.name, ui.email_verified]);
        got.push(c.sub);
      }
      eq('google: interleaved sign-ins of one email keep their own claims (id_token and userinfo)',
        got.filter((x) => Array.isArray(x)), [['Zoe Two', true, 'Zoe Two', true], ['Zoe One', false, 'Zoe One', false]]);
      check('google: ... with the same sub', got[1] === got[3] && typeof got[1] === 'string');
      const fixed = await fullFlow(p, disc, jwks, 'alice@acme.test;sub=108000000000000000001', { label: 'sub override' });
      if (fixed) eq('google: sub= override', fixed.claims.sub, '108000000000000000001');
      // The GET of the login page is optional for a non-browser client.
      {
        const jar = new Jar();
        const { verifier, challenge } = pkce();
        const first = await request(jar, 'GET', authUrl(disc, { state: 'direct', nonce: 'n', challenge }));
        const posted = await request(jar, 'POST', first.location, { form: { login: 'alice@acme.test' } });
        const resumed = await request(jar, 'GET', posted.location);
        const u = new URL(resumed.location);
        const t = await token(disc, { code: u.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: verifier });
        eq('google: GET auth 303 -> POST login 303 -> GET resume 303 (no GET of the form) works',
          [first.status, posted.status, resumed.status, u.origin + u.pathname, u.searchParams.get('state'), t.status],
          [303, 303, 303, REDIRECT, 'direct', 200]);
      }
      const moved = await fullFlow(p, disc, jwks, 'alice@acme.test;email=alice.new@acme.test', { label: 'email override' });
      if (moved && alice) eq('google: email= override keeps the sub of the login email', [moved.claims.sub, moved.claims.email], [alice.claims.sub, 'alice.new@acme.test']);
    }
    if (p === 'microsoft') {
      const carol = await fullFlow(p, disc, jwks, 'carol@acme.test;tid=00000000-0000-0000-0000-00000000000b', { label: 'carol other tenant' });
      const carol2 = await fullFlow(p, disc, jwks, 'carol@acme.test', { label: 'carol default tenant' });
      if (carol && carol2) {
        eq('microsoft/carol: tid override', carol.claims.tid, '00000000-0000-0000-0000-00000000000b');
        check('microsoft/carol: sub and oid depend on tid', carol.claims.sub !== carol2.claims.sub && carol.claims.oid !== carol2.claims.oid);
      }
      const unv = await fullFlow(p, disc, jwks, 'mallory@gmail.com;xms_edov=false', { label: 'xms_edov=false' });
      if (unv) eq('microsoft/mallory: xms_edov=false', unv.claims.xms_edov, false);
      const noEmail = await fullFlow(p, disc, jwks, 'frank@acme.test;email=', { label: 'email removed' });
      if (noEmail) eq('microsoft/frank: email= removes email, preferred_username stays', [noEmail.claims.email, noEmail.claims.preferred_username], [undefined, 'frank@acme.test']);
    }
    if (p === 'slack') {
      const other = await fullFlow(p, disc, jwks, 'bob@acme.test;https://slack.com/team_id=T0002;https://slack.com/team_name=Other', { label: 'other team' });
      if (other) eq('slack/bob: team overrides', [other.claims['https://slack.com/team_id'], other.claims['https://slack.com/team_name']], ['T0002', 'Other']);
      const uid = await fullFlow(p, disc, jwks, 'bob@acme.test;https://slack.com/user_id=UFIXED0001', { label: 'user_id override' });
      if (uid) eq('slack/bob: user_id override also sets sub', [uid.claims.sub, uid.claims['https://slack.com/user_id']], ['UFIXED0001', 'UFIXED0001']);
    }

    check(`${p}: no server_error on stderr`, !/server_error/.test(prov.stderr()), prov.stderr().slice(-500));
  } finally {
    prov.child.kill('SIGTERM');
    await once(prov.child, 'exit');
  }
}

// The provider exits when its parent goes away.
async function checkParentWatch() {
  const port = await freePort();
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${PROVIDER}" --port ${port} --profile google --client-id a --client-secret b --redirect-uri http://127.0.0.1:9/cb >/dev/null 2>&1 & echo $!; sleep 2`],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  await once(sh, 'exit');
  const pid = Number(out.trim());
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const deadline = Date.now() + 3000;
  while (alive() && Date.now() < deadline) await new Promise((r) => { setTimeout(r, 100); });
  if (!check('provider exits within 3 s of its parent exiting', !alive(), `pid ${pid} still alive`)) process.kill(pid, 'SIGTERM');
}

const started = Date.now();
for (const p of profiles) {
  try {
    await runProfile(p);
  } catch (err) {
    check(`${p}: ran without exceptions`, false, err.stack);
  }
}
await checkParentWatch();
console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
