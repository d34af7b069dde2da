#!/usr/bin/env node
// A real OAuth 2.0 authorization server (oidc-provider) for mcpwrap's end-to-end tests.
//
// Usage:
//   node issuer.mjs --cert server.pem --key server-key.pem --clients clients.json \
//        [--port 0] [--host 127.0.0.1] [--log requests.jsonl] [--ttl 3600] \
//        [--scopes "read write tools"] [--rs-scopes "read write tools"] [--client-ca ca.pem]
//
// Every flag can also be given as an environment variable: ISSUER_PORT, ISSUER_HOST,
// ISSUER_CERT, ISSUER_KEY, ISSUER_CLIENTS, ISSUER_LOG, ISSUER_TTL, ISSUER_SCOPES,
// ISSUER_RS_SCOPES, ISSUER_CLIENT_CA. Flags win.
//
// When it is listening it prints ONE JSON line on stdout:
//   {"issuer":"https://127.0.0.1:PORT","port":PORT,"token_endpoint":...,
//    "revocation_endpoint":...,"introspection_endpoint":...,"mtls":bool}
// Everything else (warnings, errors) goes to stderr.
//
// clients.json is an array of oidc-provider client metadata, e.g.
//   [{"client_id":"c","client_secret":"a+b%2Fc:d@e","grant_types":["client_credentials"],
//     "token_endpoint_auth_method":"client_secret_basic","scope":"read write tools"}]
// A private_key_jwt client (RFC 7523 client assertion) carries its public keys inline:
//   {"client_id":"k","token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{...}]}}
// (redirect_uris/response_types default to [] here.)
//
// Token endpoint behaviour:
//   - grant client_credentials only;
//   - access tokens are opaque (so they can be revoked and introspected);
//   - without `resource`: the token carries the requested scopes (statics must be in the client's
//     `scope` allow-list or the request fails with invalid_scope);
//   - with one `resource` (RFC 8707; any absolute URI is accepted) the token's audience is that
//     resource and its scope is the requested scope intersected with --rs-scopes
//     (scopes outside that set are silently dropped, as real servers do);
//   - lifetime --ttl seconds (both with and without resource).
//   - a request with the header X-E2E-Delay-Ms: N is held N ms (at most 30000) before it is
//     handled (and logged), to widen race windows in concurrency tests.
//   - with --client-ca: the TLS server asks for (but does not require) a client certificate,
//     and clients may use token_endpoint_auth_method "tls_client_auth" with
//     tls_client_auth_subject_dn (e.g. "CN=mcpwrap-mtls") or tls_client_auth_san_dns.
//
// --log: every request to the token, revocation and introspection endpoints is appended
// (synchronously, before the response is sent) as one JSON line:
//   {"ts":..., "endpoint":"token"|"revocation"|"introspection", "method", "status",
//    "client_id", "auth":"basic"|"post"|"tls"|"private_key_jwt"|"none", "grant_type", "resource", "scope",
//    "granted_scope", "error", "error_description", "mtls_cert":bool}
// Tokens and secrets are never written to it.

import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import process from 'node:process';

import Provider from 'oidc-provider';

const { values: flags } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    clients: { type: 'string' },
    log: { type: 'string' },
    ttl: { type: 'string' },
    scopes: { type: 'string' },
    'rs-scopes': { type: 'string' },
    'client-ca': { type: 'string' },
    authcode: { type: 'boolean' },
  },
  strict: true,
  allowPositionals: false,
});

const opt = (name, env, dflt) => flags[name] ?? process.env[env] ?? dflt;

function die(msg) {
  process.stderr.write(`issuer: ${msg}\n`);
  process.exit(2);
}

const host = opt('host', 'ISSUER_HOST', '127.0.0.1');
const port = Number(opt('port', 'ISSUER_PORT', '0'));
const certFile = opt('cert', 'ISSUER_CERT');
const keyFile = opt('key', 'ISSUER_KEY');
const clientsFile = opt('clients', 'ISSUER_CLIENTS');
const logFile = opt('log', 'ISSUER_LOG');
const ttl = Number(opt('ttl', 'ISSUER_TTL', '3600'));
const scopes = opt('scopes', 'ISSUER_SCOPES', 'read write tools').split(/\s+/).filter(Boolean);
const rsScopes = opt('rs-scopes', 'ISSUER_RS_SCOPES', scopes.join(' '));
const clientCAFile = opt('client-ca', 'ISSUER_CLIENT_CA');

if (!certFile || !keyFile) die('--cert and --key are required (HTTPS only)');
if (!clientsFile) die('--clients is required');
if (!Number.isInteger(port) || port < 0 || port > 65535) die(`bad --port ${port}`);
if (!Number.isInteger(ttl) || ttl <= 0) die(`bad --ttl ${ttl}`);

const clients = JSON.parse(readFileSync(clientsFile, 'utf8')).map((c) => ({
  redirect_uris: [],
  response_types: [],
  grant_types: ['client_credentials'],
  ...c,
}));
const mtls = Boolean(clientCAFile);

const tlsOptions = {
  cert: readFileSync(certFile),
  key: readFileSync(keyFile),
};
if (mtls) {
  Object.assign(tlsOptions, {
    ca: readFileSync(clientCAFile),
    requestCert: true,
    // Verification result is exposed as socket.authorized and checked per client auth method.
    rejectUnauthorized: false,
  });
}

const server = createServer(tlsOptions);
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, host, resolve);
});
const actualPort = server.address().port;
const urlHost = host.includes(':') ? `[${host}]` : host;
const issuer = `https://${urlHost}:${actualPort}`;

// A fresh signing key per run (only needed because oidc-provider insists on one; no JWTs are
// issued to clients here). Avoids the "development keys" warning.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'e2e' };

function peerCertPEM(ctx) {
  const sock = ctx.req.socket;
  if (typeof sock.getPeerCertificate !== 'function') return undefined;
  const peer = sock.getPeerCertificate(false);
  if (!peer || !peer.raw) return undefined;
  return new X509Certificate(peer.raw).toString();
}

function normDN(dn) {
  return dn.split(/[\n,]/).map((s) => s.trim()).filter(Boolean).sort().join(',');
}

const configuration = {
  clients,
  scopes,
  clientAuthMethods: [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
    ...(mtls ? ['tls_client_auth'] : []),
  ],
  jwks: { keys: [signingJwk] },
  clientDefaults: {
    grant_types: ['client_credentials'],
    id_token_signed_response_alg: 'ES256',
    response_types: [],
  },
  cookies: { keys: ['mcpwrap-e2e-cookie-key'] },
  ttl: {
    ClientCredentials: ttl,
    AccessToken: ttl,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resourceIndicator) => ({
        audience: resourceIndicator,
        scope: rsScopes,
        accessTokenTTL: ttl,
        accessTokenFormat: 'opaque',
      }),
    },
    ...(mtls ? {
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: false,
        getCertificate: (ctx) => peerCertPEM(ctx),
        certificateAuthorized: (ctx) => ctx.req.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => {
          const pem = peerCertPEM(ctx);
          if (!pem) return false;
          const cert = new X509Certificate(pem);
          switch (property) {
            case 'tls_client_auth_subject_dn':
              return normDN(cert.subject) === normDN(expected);
            case 'tls_client_auth_san_dns':
              return (cert.subjectAltName ?? '').split(/,\s*/).includes(`DNS:${expected}`);
            default:
              return false;
          }
        },
      },
    } : {}),
  },
};

// --authcode (or ISSUER_AUTHCODE=1): also the authorization-code grant for people signing in
// (mcpwrap login): dynamic client registration (public clients, token_endpoint_auth_method
// "none", native loopback redirects on any port), PKCE (required for public clients),
// refresh tokens for every client allowed the grant (rotated for public clients), and an
// interaction that approves at once as user "alice" (a script following the redirects with
// a cookie jar, e.g. curl -L -b jar -c jar, is the user clicking "allow").
const authcode = Boolean(flags.authcode) || process.env.ISSUER_AUTHCODE === '1';
if (authcode) {
  configuration.clientAuthMethods.push('none');
  configuration.features.registration = { enabled: true };
  configuration.issueRefreshToken = async (_ctx, client) => client.grantTypeAllowed('refresh_token');
  configuration.findAccount = async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) });
  configuration.interactions = { url: (_ctx, interaction) => `/interaction/${interaction.uid}` };
  configuration.ttl = { ...configuration.ttl, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 };
}

const provider = new Provider(issuer, configuration);

// The approving "user" of --authcode.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, sc] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, sc.join(' '));
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const paths = {
  '/token': 'token',
  '/token/revocation': 'revocation',
  '/token/introspection': 'introspection',
};

provider.use(async (ctx, next) => {
  const endpoint = paths[ctx.path];
  await next();
  if (!endpoint || !logFile) return;
  const params = ctx.oidc?.params ?? {};
  const authz = ctx.get('authorization') || '';
  let basicUser;
  let auth = 'none';
  if (/^basic /i.test(authz)) {
    auth = 'basic';
    try {
      const user = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8').split(':')[0];
      basicUser = decodeURIComponent(user.replace(/\+/g, ' '));
    } catch { /* malformed header: leave client_id unknown */ }
  }
  else if (ctx.oidc?.client?.clientAuthMethod === 'tls_client_auth') auth = 'tls';
  else if (params.client_assertion !== undefined) auth = 'private_key_jwt';
  else if (params.client_secret !== undefined) auth = 'post';
  const body = (ctx.body && typeof ctx.body === 'object') ? ctx.body : {};
  const entry = {
    ts: new Date().toISOString(),
    endpoint,
    method: ctx.method,
    status: ctx.status,
    client_id: ctx.oidc?.client?.clientId ?? params.client_id ?? basicUser,
    auth,
    grant_type: params.grant_type ?? undefined,
    resource: params.resource ?? undefined,
    scope: params.scope ?? undefined,
    granted_scope: endpoint === 'token' && ctx.status === 200 ? (body.scope ?? '') : undefined,
    expires_in: endpoint === 'token' && ctx.status === 200 ? body.expires_in : undefined,
    active: endpoint === 'introspection' ? body.active : undefined,
    error: body.error,
    error_description: body.error_description,
    mtls_cert: Boolean(ctx.req.socket.getPeerCertificate?.(false)?.raw),
  };
  appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
});

provider.on('server_error', (_ctx, err) => {
  process.stderr.write(`issuer: server_error: ${err?.stack ?? err}\n`);
});

const callback = provider.callback();
// X-E2E-Delay-Ms: N (0 < N <= 30000) on a request holds it N ms before oidc-provider sees it,
// so tests can make a token request slow enough that concurrent launchers surely overlap it
// (mcpwrap sends it through its `headers` option). Nothing else changes.
server.on('request', (req, res) => {
  if (authcode && req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      process.stderr.write(`issuer: interaction: ${err?.stack ?? err}\n`);
      res.statusCode = 500;
      res.end('interaction failed');
    });
    return;
  }
  const delay = Number(req.headers['x-e2e-delay-ms']);
  if (Number.isInteger(delay) && delay > 0 && delay <= 30000) setTimeout(() => callback(req, res), delay);
  else callback(req, res);
});

const ready = {
  issuer,
  port: actualPort,
  token_endpoint: `${issuer}/token`,
  revocation_endpoint: `${issuer}/token/revocation`,
  introspection_endpoint: `${issuer}/token/introspection`,
  mtls,
  authcode,
  pid: process.pid,
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

const stop = () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
