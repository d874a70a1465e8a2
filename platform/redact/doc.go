// Package redact masks secrets in structured data before it is written to
// an audit log or a session store.
//
// Audit records and session snapshots are kept far longer, and read by far
// more people, than the requests they describe, so a credential that leaks
// into one of them outlives any rotation of the original. The package
// therefore errs on the side of masking: a false positive costs a reader a
// little context, a false negative costs a credential.
//
// It replaces the redaction in the Python original (osiris
// core/redaction.py) and keeps its rules, fixing one defect: the original
// recursed into maps but not into lists, so a secret inside a list of maps or
// a list of strings was stored verbatim. This package walks maps and lists
// to any depth.
//
// # Secret keys
//
// A map key names a secret when its lower-cased form equals or contains one
// of: password, passwd, pass, pwd, secret, key, token, auth, credential,
// api_key, access_key, private_key, client_secret, bearer, cookie, jwt.
// Substring matching is deliberate: it catches DB_PASSWORD, apiKey,
// Authorization, session_token and X-Api-Key without a list of every
// spelling, at the price of also masking harmless keys such as author or
// keyboard. The value under a secret key is replaced by the mask as a whole,
// whatever its type, because a number, a list or a nested map under such a
// key is just as likely to be the secret itself. A null value stays null: it
// holds nothing, and keeping it tells a reader that no secret was set.
//
// A few keys are never masked by name, even though some of them contain a
// secret word: primary_key, session, session_id, event, event_type, command
// and key, compared exactly and case-insensitively. They identify records
// rather than authenticate anyone, and the audit log is useless without them.
// The bare key "key" is on that list because it usually names a lookup key;
// compound names such as api_key, ssh_key or idempotency_key are still
// masked. Values under these keys still go through the string patterns below
// and are still walked recursively, so a credential pasted into a command is
// caught anyway.
//
// Two kinds of value under a secret key are kept:
//
//   - A string that is exactly a variable reference, such as ${DB_PASSWORD}.
//     It names a secret rather than holding one, and hiding it would hide
//     which secret a configuration used.
//   - A number under a key ending in _count, _ms, _seconds, _bytes or
//     _tokens, such as max_tokens or token_count. These are measurements
//     whose names merely contain "token" or "key"; only numbers are kept, so
//     max_tokens: "100" or token_count: true is still masked.
//
// # Credential-shaped strings
//
// Every string value, under any key and at any depth, and every string
// passed to String, is scanned for text that looks like a credential; only
// the secret part is replaced by the mask, so the surrounding message stays
// readable (a key's header and footer, a header's name and scheme, a URL's
// user and host stay). The shapes, each with its reason in patterns.go and
// the full list in docs/redaction.md, are:
//
//   - private keys of every kind (RSA, DSA, EC, PKCS#8, ENCRYPTED, OpenSSH,
//     PGP, SSH2, PuTTY): the body up to the footer, or to the end of a text
//     that was cut off;
//   - a value after a name that says secret, in free text: password=…,
//     --password=…, --password …, YAML password: …, JSON "password": "…",
//     aws_secret_access_key = …, AccountKey=…, ?access_token=…, X-Api-Key: …;
//   - HTTP credentials: Authorization and Proxy-Authorization (Basic,
//     Bearer, Digest, any scheme), Basic base64 of user:password anywhere,
//     the token after Bearer, Cookie and Set-Cookie values;
//   - the password in a URL's user information (postgres://user:pass@host),
//     curl -u user:pass, and URL query credentials (key=, sig=, code=,
//     X-Amz-Signature=), Slack and Discord webhook paths;
//   - vendor tokens by their prefix: GitHub, GitLab, Slack, AWS access key
//     ids, Google API keys and OAuth tokens, Stripe, OpenAI and Anthropic,
//     npm, PyPI, SendGrid, Vault, DigitalOcean, Shopify, Hugging Face, Azure
//     client secrets, age keys, and JSON Web Tokens;
//   - random keys of unknown origin: a run of 32 or more base64 characters
//     with a + or /, both cases, a digit and few slashes (an AWS secret key, a
//     line of a key), or of 32 or more letters and digits that mixes upper-
//     and lower-case letters. Requiring both cases keeps lower-case hex
//     digests such as SHA-256 sums, and UUIDs, which audit records often carry
//     and which are not secrets, readable.
//
// The strings of one list are read in order, because people paste a private
// key line by line and pass a flag and its value as two arguments: after a
// private key header every element up to the footer is masked whole, and
// the element after a flag that names a secret (--password, --api-key) is
// masked whole.
//
// A value after a secret name is kept when it is a variable reference, a
// number under a measurement name (max_tokens=4096), or the value of a name
// that points to a secret rather than holding it (--password-file path,
// token_type=Bearer).
//
// A string that is exactly a variable reference such as ${NAME} is never
// masked, for the reason given above.
//
// With AuditMask or SessionMask, masking is idempotent: redacting already
// redacted data changes nothing, so data can pass through more than one
// redacting layer safely. Map keys are never changed, so the shape of a
// record survives redaction.
//
// A Redactor holds its compiled patterns and is immutable after New, so one
// Redactor can be shared by any number of goroutines.
package redact
