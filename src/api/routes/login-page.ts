/** GET /login: the dashboard's sign-in form, plain HTML without scripts. */
import type { Handler } from '../handler.ts';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mwi-runner: sign in</title>
<style>
body { font: 16px system-ui, sans-serif; max-width: 22rem; margin: 4rem auto; padding: 0 1rem; }
label { display: block; margin: 1rem 0 0.25rem; }
input { width: 100%; box-sizing: border-box; padding: 0.4rem; font: inherit; }
button { margin-top: 1.25rem; padding: 0.5rem 1rem; font: inherit; }
</style>
</head>
<body>
<h1>mwi-runner</h1>
<form method="post" action="/login">
<label for="token">Viewer or operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<label for="user">Your name, for the audit log (optional)</label>
<input id="user" name="user" type="text" autocomplete="username" pattern="[A-Za-z0-9._@\\-]{1,64}">
<button type="submit">Sign in</button>
</form>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</body>
</html>
`;

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export const getLoginPage: Handler = () => ({ status: 200, headers: HEADERS, body: PAGE });
