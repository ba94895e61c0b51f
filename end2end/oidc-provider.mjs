// A real OpenID provider for the browser journeys: the OpenID-certified `oidc-provider`
// package on a loopback port, with one client (the console) and people in different groups.
// Its own login page (development interactions) accepts any password; test use only.
//
//   OIDC_PORT=… OIDC_REDIRECT_URI=http://127.0.0.1:…/auth/oidc/callback node oidc-provider.mjs
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const people = {
  alice: ["console-admins"],
  eddie: ["console-editors", "helpdesk"],
  vera: ["helpdesk"],
  nora: ["sales"],
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "concur-console",
      client_secret: "e2e client secret that is long enough",
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  // The groups travel in the ID token, as the console reads them.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ["end-to-end tests only"] },
  findAccount: async (_ctx, id) =>
    people[id] && {
      accountId: id,
      claims: async () => ({
        sub: id,
        preferred_username: id,
        name: id,
        email: `${id}@example.com`,
        groups: people[id],
      }),
    },
});

provider.listen(port, "127.0.0.1", () => console.log(`OpenID provider ready at ${issuer}`));
