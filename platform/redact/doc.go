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
// the matching part is replaced by the mask, so the surrounding message
// stays readable. The shapes are Slack tokens (xoxa-, xoxb-, xoxp-, xoxo-,
// xoxs-, xoxr-), AWS access key ids (AKIA or ASIA and 16 upper-case letters
// or digits), GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_ and github_pat_),
// JSON Web Tokens (eyJ….eyJ….…), the token after the word Bearer, the
// password in a URL's user information (scheme://user:password@host), and
// any run of 32 or more ASCII letters and digits that mixes upper- and
// lower-case letters. The last rule catches random API keys of unknown
// origin; requiring both cases keeps lower-case hex digests such as SHA-256
// sums, which audit records often carry and which are not secrets, readable.
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
