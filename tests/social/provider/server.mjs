// A real OpenID Connect provider (node-oidc-provider) for rowgate's social sign-in tests.
// Usage: node server.mjs <port> <client_id> <client_secret> <redirect_uri>
// Accounts: "ada" (verified address ada@example.com), "eve" (unverified eve@example.com),
// "bob" (verified bob@example.com).  Sign-in and consent go through the provider's own
// development interaction pages (a form that takes any login name), driven over HTTP by the tests.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const accounts = {
  ada: { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' },
  eve: { email: 'eve@example.com', email_verified: false, name: 'Eve' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob' },
};

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['rowgate-test-provider-cookie-key'] },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return { accountId: sub, async claims() { return { sub, ...account }; } };
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
