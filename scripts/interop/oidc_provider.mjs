#!/usr/bin/env node
// A local OpenID Connect provider for tests: oidc-provider (panva) shaped like Google, Microsoft
// or Slack (the operator's providers), or like a generic IdP, Okta, Auth0 or Keycloak (a
// workspace's own connections: their issuer paths, claim shapes, group claims and token endpoint
// authentication). See scripts/interop/README.md ("OIDC provider") for the CLI, the account syntax and
// the exact HTTP steps a non-browser client takes.
//
//   node scripts/interop/oidc_provider.mjs --port P --profile google|microsoft|slack|generic|okta|auth0|keycloak \
//     --client-id ID --client-secret SECRET --redirect-uri URI [--redirect-uri URI2 ...]
//
// Prints `READY http://127.0.0.1:P` on stdout once it is listening. Exits when its parent goes away.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const PROFILES = ['google', 'microsoft', 'slack', 'generic', 'okta', 'auth0', 'keycloak'];
// Where each profile's issuer lives on the server (Okta's custom authorization server, Auth0's
// trailing slash, a Keycloak realm).
const ISSUER_PATH = { okta: '/oauth2/default', auth0: '/', keycloak: '/realms/acme' };
// Auth0's namespaced custom claim for groups (an Action adds it; Auth0 drops non-namespaced ones).
const AUTH0_GROUPS = 'https://gatehouse.test/groups';
// Claims that hold a list: `groups=Eng|Admins` in a login string.
const LIST_CLAIMS = new Set(['groups', AUTH0_GROUPS]);
const MICROSOFT_DEFAULT_TID = '9188040d-6c67-4c5b-b112-36a304b66dad';
const SLACK_DEFAULT_TEAM_ID = 'T0001';
const INTRUDER_ID = 'intruder';
const INTRUDER_SECRET = 'intruder-secret';

// ---------------------------------------------------------------------------------------------
// Command line

function usage(msg) {
  if (msg) process.stderr.write(`oidc_provider: ${msg}\n`);
  process.stderr.write('usage: node scripts/interop/oidc_provider.mjs --port P --profile google|microsoft|slack|generic|okta|auth0|keycloak '
    + '--client-id ID --client-secret SECRET --redirect-uri URI [--redirect-uri URI2 ...]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      profile: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      // Any `{prefix}{hex id}/callback` is a registered redirect URI (a workspace's connection
      // has its own, known only once the connection exists).
      'redirect-uri-prefix': { type: 'string' },
      // Adds a `padding` claim of this many characters to every ID token (a relying party's
      // limit on the token endpoint's answer is tested with it).
      'pad-claims': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usage(err.message);
}
if (args.help) usage();
const port = Number(args.port);
if (args.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) usage('--port must be 0..65535');
const profile = args.profile;
if (!PROFILES.includes(profile)) usage(`--profile must be one of ${PROFILES.join(', ')}`);
const clientId = args['client-id'];
const clientSecret = args['client-secret'];
if (!clientId || !clientSecret) usage('--client-id and --client-secret are required');
if (clientId === INTRUDER_ID) usage(`--client-id must not be "${INTRUDER_ID}" (that one is built in)`);
const redirectPrefix = args['redirect-uri-prefix'];
const redirectUris = args['redirect-uri'] ?? (redirectPrefix ? [`${redirectPrefix}0/callback`] : []);
if (!redirectUris.length) usage('at least one --redirect-uri (or --redirect-uri-prefix) is required');
for (const uri of redirectUris) {
  try {
    const u = new URL(uri);
    if (!['http:', 'https:'].includes(u.protocol) || u.hash) throw new Error();
  } catch {
    usage(`bad --redirect-uri ${uri}`);
  }
}

// Exit when the parent goes away, so a test harness that dies doesn't leak us.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid || process.ppid === 1) process.exit(0);
}, 500);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));

// ---------------------------------------------------------------------------------------------
// Accounts. The login name is the account: `EMAIL[;key=value]*`. oidc-provider 9 always puts the
// accountId in `sub`, so the accountId is the computed sub, and the login string travels with the
// interaction result and the grant: findAccount looks it up by the token's grant (code, access
// token), by the login result in flight, or else takes the last login seen for that sub.

const loginByGrant = new Map(); // grantId -> login string
const loginBySub = new Map(); // sub -> last login string
function remember(map, key, value) {
  map.set(key, value);
  if (map.size > 20000) map.delete(map.keys().next().value);
}

const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest();

const KNOWN_NAMES = {
  alice: ['Alice', 'Liddell'],
  bob: ['Bob', 'Builder'],
  eve: ['Eve', 'Outsider'],
};

function namesFor(email) {
  const local = email.split('@')[0].toLowerCase();
  if (KNOWN_NAMES[local]) return KNOWN_NAMES[local];
  const words = local.split('+')[0].split(/[._-]+/).filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  if (!words.length) return ['User', 'Tester'];
  if (words.length === 1) return [words[0], 'Tester'];
  return [words[0], words.slice(1).join(' ')];
}

// Google: 21 decimal digits.
function googleSub(email) {
  const n = BigInt(`0x${sha256(`google-sub:${email}`).subarray(0, 16).toString('hex')}`);
  return `1${(n % 10n ** 20n).toString().padStart(20, '0')}`;
}

// Microsoft: pairwise-looking 43-character base64url `sub`, GUID-shaped `oid`.
function microsoftSub(email, tid) {
  return sha256(`microsoft-sub:${tid}:${email}`).toString('base64url');
}
function microsoftOid(email, tid) {
  const h = sha256(`microsoft-oid:${tid}:${email}`).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// Slack: `U` + 10 characters of [A-Z0-9].
function slackUserId(email) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = sha256(`slack-user:${email}`);
  let out = 'U';
  for (let i = 0; i < 10; i += 1) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

// Which scope releases which claim (oidc-provider drops any claim not listed here).
// Provider-specific claims come with `openid`, so they are there whatever else is asked for.
const STANDARD_SCOPES = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username',
    'picture', 'locale', 'zoneinfo'],
};
const PROFILE_OPENID_CLAIMS = {
  generic: [],
  okta: ['groups', 'preferred_username'],
  auth0: [AUTH0_GROUPS, 'nickname'],
  keycloak: ['groups', 'preferred_username'],
  google: ['hd'],
  microsoft: ['tid', 'oid', 'xms_edov', 'ver'],
  slack: ['https://slack.com/user_id', 'https://slack.com/team_id', 'https://slack.com/team_name',
    'https://slack.com/team_domain'],
};
const padding = Number(args['pad-claims'] ?? 0);
if (!Number.isInteger(padding) || padding < 0) usage('--pad-claims must be a whole number');
const CLAIMS_CONFIG = {
  ...STANDARD_SCOPES,
  openid: [...STANDARD_SCOPES.openid, ...PROFILE_OPENID_CLAIMS[profile], ...(padding ? ['padding'] : [])],
};
const KNOWN_CLAIMS = new Set(Object.values(CLAIMS_CONFIG).flat());

class LoginError extends Error {}

// Parse `EMAIL[;key=value]*` into { email, overrides: Map }. Throws LoginError.
function parseLogin(raw) {
  const login = String(raw ?? '').trim();
  if (!login) throw new LoginError('enter an email address');
  const [emailPart, ...rest] = login.split(';');
  const email = emailPart.trim();
  if (!/^[^@\s;]+@[^@\s;]+$/.test(email)) throw new LoginError(`"${email}" is not an email address`);
  const overrides = new Map();
  for (const item of rest) {
    if (!item.trim()) continue;
    const eq = item.indexOf('=');
    if (eq < 1) throw new LoginError(`"${item}" is not key=value`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!KNOWN_CLAIMS.has(key)) {
      throw new LoginError(`unknown claim "${key}" for the ${profile} profile; known: ${[...KNOWN_CLAIMS].join(', ')}`);
    }
    if (value === '' && key === 'sub') throw new LoginError('sub cannot be removed');
    if (key === 'sub' && typeof value !== 'string') throw new LoginError('sub must be a string');
    if (value === '') overrides.set(key, undefined);
    else if (LIST_CLAIMS.has(key)) overrides.set(key, value === '-' ? [] : value.split('|'));
    else if (value === 'true') overrides.set(key, true);
    else if (value === 'false') overrides.set(key, false);
    else overrides.set(key, value);
  }
  return { login, email, overrides };
}

function claimsFor(raw) {
  const { email, overrides } = parseLogin(raw);
  const key = email.toLowerCase(); // hashes ignore case; the email claim keeps it
  const [given, family] = namesFor(email);
  const domain = email.split('@')[1].toLowerCase();
  const base = {};
  const pick = (name, fallback) => (overrides.has(name) ? overrides.get(name) : fallback);
  switch (profile) {
    case 'google':
      Object.assign(base, {
        sub: googleSub(key),
        email,
        email_verified: true,
        name: `${given} ${family}`,
        given_name: given,
        family_name: family,
        hd: ['gmail.com', 'googlemail.com'].includes(domain) ? undefined : domain,
      });
      break;
    case 'generic':
    case 'okta':
    case 'auth0':
    case 'keycloak': {
      const h = sha256(`${profile}-sub:${key}`).toString('hex');
      const sub = {
        generic: `user-${h.slice(0, 16)}`,
        okta: `00u${h.slice(0, 17)}`,
        auth0: `auth0|${h.slice(0, 24)}`,
        keycloak: `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`,
      }[profile];
      Object.assign(base, {
        sub, email, email_verified: true, name: `${given} ${family}`, given_name: given, family_name: family,
      });
      if (profile === 'okta') Object.assign(base, { preferred_username: email, groups: ['Everyone'] });
      if (profile === 'auth0') Object.assign(base, { nickname: email.split('@')[0], [AUTH0_GROUPS]: [] });
      if (profile === 'keycloak') Object.assign(base, { preferred_username: email.split('@')[0], groups: [] });
      break;
    }
    case 'microsoft': {
      const tid = pick('tid', MICROSOFT_DEFAULT_TID) ?? MICROSOFT_DEFAULT_TID;
      Object.assign(base, {
        sub: microsoftSub(key, String(tid)),
        email,
        preferred_username: email,
        name: `${given} ${family}`,
        tid,
        oid: microsoftOid(key, String(tid)),
        xms_edov: true,
        ver: '2.0',
      });
      break;
    }
    case 'slack': {
      const userId = pick('https://slack.com/user_id', slackUserId(key)) ?? slackUserId(key);
      const teamWord = domain.split('.')[0];
      Object.assign(base, {
        sub: userId,
        email,
        email_verified: true,
        name: `${given} ${family}`,
        given_name: given,
        family_name: family,
        'https://slack.com/user_id': userId,
        'https://slack.com/team_id': SLACK_DEFAULT_TEAM_ID,
        'https://slack.com/team_name': teamWord[0].toUpperCase() + teamWord.slice(1),
        'https://slack.com/team_domain': teamWord,
      });
      break;
    }
    default:
      throw new Error('unreachable');
  }
  if (padding) base.padding = 'x'.repeat(padding);
  for (const [name, value] of overrides) base[name] = value;
  for (const name of Object.keys(base)) if (base[name] === undefined) delete base[name];
  return base;
}

// ---------------------------------------------------------------------------------------------
// Pages (plain HTML, no JavaScript, no external resources)

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const PROFILE_TITLE = {
  google: 'Google', microsoft: 'Microsoft', slack: 'Slack', generic: 'a generic IdP', okta: 'Okta', auth0: 'Auth0', keycloak: 'Keycloak',
};
const STYLE = 'body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}'
  + 'label{display:block;margin:.8em 0 .2em}input{width:100%;padding:.4em;box-sizing:border-box}'
  + 'button{margin:1em .5em 0 0;padding:.4em 1.2em}.error{color:#a00}code{font-size:90%}'
  + 'dl{font-size:85%;color:#555}dt{font-weight:bold}';

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function loginPage({ uid, params, error, value }) {
  const heading = `Sign in with ${PROFILE_TITLE[profile]} (test provider)`;
  return page(`Sign-in - ${PROFILE_TITLE[profile]} test provider`, `<h1>${esc(heading)}</h1>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}" autocomplete="off">
<label for="login">Email</label>
<input id="login" name="login" type="text" required autofocus value="${esc(value ?? params.login_hint ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password">
<button type="submit" name="action" value="login">Sign-in</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>
<p>Any password works. Add claims after the email: <code>bob@acme.test;email_verified=false;hd=other.test</code>.</p>
<dl>
<dt>client_id</dt><dd>${esc(params.client_id)}</dd>
<dt>redirect_uri</dt><dd>${esc(params.redirect_uri)}</dd>
<dt>scope</dt><dd>${esc(params.scope)}</dd>
</dl>`);
}

function errorPage(title, detail) {
  return page(title, `<h1>${esc(title)}</h1>\n<p class="error" role="alert">${esc(detail)}</p>`);
}

// ---------------------------------------------------------------------------------------------
// The provider

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new LoginError('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function makeProvider(issuer) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = {
    ...privateKey.export({ format: 'jwk' }),
    kid: `${profile}-${randomBytes(6).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  const cookiePrefix = `_gh_oidc_${profile}_${new URL(issuer).port}`;
  // Auth0 applications take the secret in the body by default; its discovery then lists only that.
  const authMethod = profile === 'auth0' ? 'client_secret_post' : 'client_secret_basic';
  const client = (id, secret) => ({
    client_id: id,
    client_secret: secret,
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: authMethod,
    id_token_signed_response_alg: 'RS256',
  });

  // The default policy (login, consent) plus a requestable select_account prompt, because Google
  // and Microsoft clients often send prompt=select_account; the login page answers all three.
  const policy = interactionPolicy.base();
  policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }));

  const provider = new Provider(issuer, {
    clients: [client(clientId, clientSecret), client(INTRUDER_ID, INTRUDER_SECRET)],
    jwks: { keys: [jwk] },
    claims: CLAIMS_CONFIG,
    scopes: ['openid'],
    clientAuthMethods: profile === 'auth0' ? ['client_secret_post'] : ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: {
      names: {
        session: `${cookiePrefix}_session`,
        interaction: `${cookiePrefix}_interaction`,
        resume: `${cookiePrefix}_resume`,
      },
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      dPoP: { enabled: false },
      userinfo: { enabled: true },
    },
    interactions: {
      policy,
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, sub, token) {
      const inFlight = ctx?.oidc?.result?.login;
      const login = (token?.grantId && loginByGrant.get(token.grantId))
        || (inFlight?.accountId === sub && inFlight.gh_login)
        || loginBySub.get(sub);
      if (!login) return undefined;
      let claims;
      try {
        claims = claimsFor(login);
      } catch {
        return undefined;
      }
      if (claims.sub !== sub) return undefined;
      return { accountId: sub, claims: async () => ({ ...claims }) };
    },
    // No consent screen: grant whatever OIDC scopes were asked for.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      if (!ctx.oidc.session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' ') || 'openid');
      await grant.save();
      const login = ctx.oidc.result?.login?.gh_login;
      if (login) remember(loginByGrant, grant.jti, login);
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage('Sign-in error', `${out.error}: ${out.error_description ?? ''}`);
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
  });

  if (redirectPrefix) {
    const exact = provider.Client.prototype.redirectUriAllowed;
    provider.Client.prototype.redirectUriAllowed = function allowed(value) {
      const rest = typeof value === 'string' && value.startsWith(redirectPrefix) ? value.slice(redirectPrefix.length) : null;
      return (rest !== null && /^[0-9a-f]{1,64}\/callback$/.test(rest)) || exact.call(this, value);
    };
  }

  // Our own interaction pages, instead of devInteractions (whose page pulls a web font).
  provider.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      ctx.type = 'text';
      ctx.body = 'ok';
      return;
    }
    const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(ctx.path);
    if (!m || !['GET', 'POST'].includes(ctx.method)) {
      await next();
      // No single sign-on: every authorization request shows the login page, and a second
      // sign-in as someone else in the same browser just works. Drop the session cookie.
      const sessionName = `${cookiePrefix}_session`;
      const setCookie = ctx.response.get('set-cookie');
      if (setCookie) {
        const kept = [].concat(setCookie).filter((c) => !c.startsWith(`${sessionName}=`) && !c.startsWith(`${sessionName}.sig=`));
        if (kept.length) ctx.set('set-cookie', kept);
        else ctx.remove('set-cookie');
      }
      return;
    }
    ctx.set('cache-control', 'no-store');
    ctx.set('pragma', 'no-cache');
    ctx.type = 'html';

    let interaction;
    try {
      interaction = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.body = errorPage('Sign-in error', `${err.error ?? err.name}: ${err.error_description ?? err.message} (start again from the application)`);
      return;
    }
    if (interaction.uid !== m[1]) {
      ctx.status = 400;
      ctx.body = errorPage('Sign-in error', 'this sign-in page belongs to another authorization request (start again from the application)');
      return;
    }
    const { params, prompt } = interaction;

    if (ctx.method === 'GET') {
      if (prompt.name !== 'login') {
        // Only reachable if a prompt other than login is pending (e.g. prompt=consent after an
        // earlier step): resolve it without a page.
        const returnTo = await provider.interactionResult(ctx.req, ctx.res, { [prompt.name]: {} });
        ctx.status = 303;
        ctx.redirect(returnTo);
        return;
      }
      ctx.body = loginPage({ uid: interaction.uid, params });
      return;
    }

    // POST: the login form.
    let form;
    try {
      form = await readForm(ctx.req);
    } catch (err) {
      ctx.status = 400;
      ctx.body = errorPage('Sign-in error', err.message);
      return;
    }
    let result;
    if (form.get('action') === 'cancel') {
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else {
      let parsed;
      let sub;
      try {
        parsed = parseLogin(form.get('login'));
        ({ sub } = claimsFor(parsed.login));
      } catch (err) {
        if (!(err instanceof LoginError)) throw err;
        ctx.status = 400;
        ctx.body = loginPage({
          uid: interaction.uid, params, error: err.message, value: form.get('login'),
        });
        return;
      }
      remember(loginBySub, sub, parsed.login);
      // Resolve every prompt the request asked for (login, select_account, consent) in one go.
      result = {
        login: { accountId: sub, remember: false, gh_login: parsed.login },
        select_account: {},
        consent: {},
      };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return provider;
}

// Listen first (so --port 0 works), then build the provider with the real issuer.
let handler = (req, res) => {
  res.statusCode = 503;
  res.end('starting');
};
const server = createServer((req, res) => handler(req, res));
server.on('error', (err) => {
  process.stderr.write(`oidc_provider: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const prefix = (ISSUER_PATH[profile] ?? '').replace(/\/$/, '');
  const issuer = `http://127.0.0.1:${server.address().port}${ISSUER_PATH[profile] ?? ''}`;
  const serve = () => {
    const provider = makeProvider(issuer);
    provider.on('server_error', (ctx, err) => process.stderr.write(`oidc_provider: server_error ${err.stack}\n`));
    const callback = provider.callback();
    // POST /__rotate-keys: a new provider with a new signing key answers from now on (as a
    // real provider rotating its keys; flows in flight are not carried over). Tests of the
    // relying party's key refetch use it.
    handler = (req, res) => {
      if (req.method === 'POST' && req.url === '/__rotate-keys') {
        serve();
        res.end('rotated');
        return;
      }
      // An issuer with a path: the provider's routes answer under it (as when mounted there).
      if (prefix && req.url.startsWith(`${prefix}/`)) {
        req.originalUrl = req.url;
        req.url = req.url.slice(prefix.length);
      }
      callback(req, res);
    };
  };
  serve();
  process.stdout.write(`READY ${issuer}\n`);
});
