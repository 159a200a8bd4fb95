// The relying party the scenarios sign in to: a tiny HTTP server on 127.0.0.1 that registers
// its clients at ferrid (RFC 7591), starts the authorization code flow with PKCE (RFC 7636),
// state and nonce, redeems the code with client_secret_basic (RFC 6749 §2.3.1), verifies the ID
// token (OIDC Core §3.1.3.7) and starts RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2).
// Its pages are plain HTML; a marker tells whether JavaScript ran.

import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer } from 'node:http';

const random = () => randomBytes(32).toString('base64url');

// RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined for Basic.
const formEncode = (value) => encodeURIComponent(value).replace(/%20/g, '+');

async function json(response) {
  const body = await response.text();
  if (!response.ok) throw new Error(`${response.status} from ${response.url}: ${body}`);
  return JSON.parse(body);
}

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · test RP</title></head>
<body><h1>${escapeHtml(title)}</h1>${body}
<p id="javascript">JavaScript is off</p>
<script>document.getElementById('javascript').textContent = 'JavaScript is on';</script>
</body></html>`;
}

// JWS algorithms (RFC 7518 §3) as node's crypto.verify arguments.
function verifier(alg, key) {
  switch (alg) {
    case 'RS256': return ['sha256', key];
    case 'PS256': return ['sha256', { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }];
    case 'ES256': return ['sha256', { key, dsaEncoding: 'ieee-p1363' }];
    case 'EdDSA': return [null, key];
    default: throw new Error(`unexpected ID token alg ${alg}`);
  }
}

export async function startRelyingParty(issuer) {
  const discovery = await json(await fetch(`${issuer}/.well-known/openid-configuration`));
  if (discovery.issuer !== issuer) throw new Error(`discovery issuer ${discovery.issuer} is not ${issuer}`);
  const clients = new Map(); // name → { client_id, client_secret, idToken }
  const pending = new Map(); // state → { name, nonce, verifier } of a started sign-in
  const logouts = new Set(); // states of started logouts
  const signIns = []; // { client, claims } per completed sign-in
  const signOuts = []; // { state } per return from logout

  async function verifyIdToken(idToken, clientId, nonce) {
    const [headerPart, payloadPart, signature] = idToken.split('.');
    const header = JSON.parse(Buffer.from(headerPart, 'base64url'));
    const claims = JSON.parse(Buffer.from(payloadPart, 'base64url'));
    const { keys } = await json(await fetch(discovery.jwks_uri));
    const jwk = keys.find((k) => k.kid === header.kid);
    if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
    const [digest, key] = verifier(header.alg, createPublicKey({ key: jwk, format: 'jwk' }));
    if (!verify(digest, Buffer.from(`${headerPart}.${payloadPart}`), key, Buffer.from(signature, 'base64url'))) {
      throw new Error('the ID token signature does not verify');
    }
    const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== issuer) throw new Error(`ID token iss ${claims.iss}`);
    if (!audience.includes(clientId)) throw new Error(`ID token aud ${claims.aud}`);
    if (claims.nonce !== nonce) throw new Error(`ID token nonce ${claims.nonce}, sent ${nonce}`);
    if (!(claims.exp * 1000 > Date.now())) throw new Error('the ID token has expired');
    return claims;
  }

  async function callback(query) {
    const started = pending.get(query.get('state'));
    if (!started) return [400, page('Unknown state', '<p>This sign-in was not started here.</p>')];
    pending.delete(query.get('state'));
    // RFC 9207 §2.4: the response names the issuer it came from.
    if (query.get('iss') !== issuer) throw new Error(`iss ${query.get('iss')} in the authorization response`);
    if (query.get('error')) return [200, page('Not signed in', `<p id="error">${escapeHtml(query.get('error'))}</p>`)];
    const client = clients.get(started.name);
    const tokens = await json(
      await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${formEncode(client.client_id)}:${formEncode(client.client_secret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: query.get('code'),
          redirect_uri: `${base}/callback`,
          code_verifier: started.verifier,
        }),
      }),
    );
    if (!tokens.access_token) throw new Error('no access token');
    const claims = await verifyIdToken(tokens.id_token, client.client_id, started.nonce);
    client.idToken = tokens.id_token;
    signIns.push({ client: started.name, claims });
    return [200, page(`Signed in to ${started.name}`, `<p>as <strong id="subject">${escapeHtml(claims.email ?? claims.sub)}</strong></p>`)];
  }

  function start(query) {
    const name = query.get('client');
    const client = clients.get(name);
    const state = random();
    const nonce = random();
    const codeVerifier = random();
    pending.set(state, { name, nonce, verifier: codeVerifier });
    const url = new URL(discovery.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: `${base}/callback`,
      response_type: 'code',
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    return url.href;
  }

  // With the ID token as hint (§2) ferrid may end the session at once; with only client_id it
  // asks the user first.
  function logout(query) {
    const client = clients.get(query.get('client'));
    const state = random();
    logouts.add(state);
    const url = new URL(discovery.end_session_endpoint);
    const params = { post_logout_redirect_uri: `${base}/signed-out`, state };
    if (query.get('hint') === 'yes') params.id_token_hint = client.idToken;
    else params.client_id = client.client_id;
    url.search = new URLSearchParams(params);
    return url.href;
  }

  function signedOut(query) {
    const state = query.get('state');
    if (!logouts.delete(state)) return [400, page('Unknown state', '<p>This logout was not started here.</p>')];
    signOuts.push({ state });
    return [200, page('Signed out', '<p id="state">The provider returned the logout state.</p>')];
  }

  const server = createServer(async (request, response) => {
    const url = new URL(request.url, base);
    try {
      let status = 200;
      let body;
      if (url.pathname === '/start') {
        response.writeHead(302, { location: start(url.searchParams) }).end();
        return;
      } else if (url.pathname === '/logout') {
        response.writeHead(302, { location: logout(url.searchParams) }).end();
        return;
      } else if (url.pathname === '/callback') {
        [status, body] = await callback(url.searchParams);
      } else if (url.pathname === '/signed-out') {
        [status, body] = signedOut(url.searchParams);
      } else {
        [status, body] = [404, page('Not found', '')];
      }
      response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(body);
    } catch (error) {
      console.error(`RP: ${error.stack || error}`);
      response.writeHead(500, { 'content-type': 'text/html; charset=utf-8' })
        .end(page('RP error', `<pre id="error">${escapeHtml(error.message)}</pre>`));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  return {
    base,
    signIns,
    signOuts,
    // Registers a confidential client named `name` (RFC 7591 §3.1).
    async register(name) {
      const registered = await json(
        await fetch(discovery.registration_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            client_name: name,
            redirect_uris: [`${base}/callback`],
            post_logout_redirect_uris: [`${base}/signed-out`],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
            scope: 'openid email profile',
          }),
        }),
      );
      clients.set(name, { client_id: registered.client_id, client_secret: registered.client_secret });
    },
    // Where a browser starts signing in to `name`.
    signInUrl: (name) => `${base}/start?client=${encodeURIComponent(name)}`,
    // Where a browser starts signing out of `name`, with or without the ID token as hint.
    signOutUrl: (name, { hint }) => `${base}/logout?client=${encodeURIComponent(name)}&hint=${hint ? 'yes' : 'no'}`,
    // Whether `url` is this RP's callback (a sign-in came back).
    isCallback: (url) => url.href.startsWith(`${base}/callback`),
    isSignedOut: (url) => url.href.startsWith(`${base}/signed-out`),
    close() {
      // The browser keeps connections alive; they would hold close() open.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
