package redacttest

import (
	"encoding/base64"
	"strings"
)

// Fixtures, split so that secret scanners do not flag this file.
const (
	awsKeyID     = "AKIA" + "Q3EGRTX7PLM4ZK2W"
	awsSecret    = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYz9Xq4Lr2Vk"
	awsSecret2   = "je7MtGbClwBF/2Zp9Utk" + "/h3yCo8nvbEXAMPLEKEY"
	googleKey    = "AIza" + "SyD3x8Qp2Lm9Vt4Rk7Wn1Jb6Hc0Fg5Ys2Ue"
	ghToken      = "ghp_" + "R8mK2xQ9vL4tN7pW3jH6bC1fD5gS0aZ2yE8u"
	ghPAT        = "github_pat_" + "11AQ3RZ0I0" + "_Kx7Pm2Vq9Lt4Wn8Rj3Hb6Cf1Dg5Ys0Ua"
	slackBot     = "xoxb-" + "2837465019-5647382910-" + "Zk8Pq2Lm9Vt4"
	slackUser    = "xoxp-" + "9182736450-1029384756-" + "Wq3Rt7Yu1Io5"
	slackHook    = "T0" + "2AB3CD4/B05EF6GH7/Xy9Zq8Wv7Ut6Sr5Qp4On3Ml"
	stripeKey    = "sk_live_" + "51Hq8Zx2Kp9Lm4Vt7Rw3Jn6Bc"
	jwt          = "eyJhbGciOiJSUzI1NiJ9" + "." + "eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDB9" + "." + "Qm9ndXNTaWduYXR1cmVGb3JUZXN0c09ubHk_x-Z"
	openAIKey    = "sk-proj-" + "Tq7Wm2Xk9Pb4Lr8Vn3Hj6Cd1Fg5Sy0Ua"
	gitlabToken  = "glpat-" + "Xq8Zm2Kp9Lt4Vw7Rn3Jb"
	npmToken     = "npm_" + "Qm8Zx2Kp9Lt4Vw7Rn3Jb6Cf1Dg5Ys0UaEe2T"
	sendgridKey  = "SG." + "Zq8Xm2Kp9Lt4Vw7Rn3Jb6C" + "." + "Df1Gh5Ys0Ua2Ee8Tk3Mq7Nw9Pz4Rb6Vc1Xj5Lh0Oy8I"
	vaultToken   = "hvs." + "CAESIJq8Xm2Kp9Lt4Vw7Rn3Jb6Cf1Dg5"
	azureKey     = "Zq8Xm2Kp9Lt4Vw7Rn3Jb6Cf1Dg5Ys0Ua2Ee8Tk3Mq7Nw9Pz4Rb6Vc1Xj5Lh0Oy8Iu3Ap==" // base64 of 64 bytes
	randomSecret = "Hx7Kp2Qm9Vt4Lr8Wn3Jb6Cf1Dg5Ys0Ua"                                       // 32 mixed-case alphanumerics
)

// Corpus returns one case per class of secret the issue names and their relatives.
func Corpus() []Case {
	k := genKeys()
	dsa := armored("DSA PRIVATE KEY", "", 440, 64, "")
	enc := armored("ENCRYPTED PRIVATE KEY", "", 1200, 64, "")
	ssh := armored("OPENSSH PRIVATE KEY", "openssh-key-v1\x00", 380, 70, "")
	pgp := armored("PGP PRIVATE KEY BLOCK", "", 900, 64, "Version: GnuPG v2\n\n")
	ssh2 := strings.NewReplacer("-----BEGIN ", "---- BEGIN ", "-----END ", "---- END ", "KEY-----", "KEY ----").
		Replace(armored("SSH2 ENCRYPTED PRIVATE KEY", "", 600, 70, ""))
	putty := "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ci\nPublic-Lines: 2\n" +
		"AAAAC3NzaC1lZDI1NTE5AAAAIOd7Yq3Jw9dR2t\nAAAA\nPrivate-Lines: 1\n" +
		base64.StdEncoding.EncodeToString(random(32)) + "\nPrivate-MAC: 5b1f0c9e\n"
	cut := strings.Join(strings.Split(armored("RSA PRIVATE KEY", "", 600, 64, ""), "\n")[:5], "\n")
	saJSON := strings.ReplaceAll(k.ecPKCS8, "\n", `\n`)
	basic := base64.StdEncoding.EncodeToString([]byte("deploy:Tr0ub4dor&3-horse"))
	return []Case{
		{Class: "RSA private key (PKCS#1)", Text: k.rsaPKCS1, Secrets: body(k.rsaPKCS1)},
		{Class: "EC private key (SEC 1)", Text: k.ecSEC1, Secrets: body(k.ecSEC1)},
		{Class: "private key (PKCS#8)", Text: k.ecPKCS8, Secrets: body(k.ecPKCS8)},
		{Class: "DSA private key", Text: dsa, Secrets: body(dsa)},
		{Class: "encrypted private key", Text: enc, Secrets: body(enc)},
		{Class: "OpenSSH private key", Text: ssh, Secrets: body(ssh)},
		{Class: "PGP private key block", Text: pgp, Secrets: body(pgp)},
		{Class: "SSH2 private key", Text: ssh2, Secrets: body(ssh2)},
		{Class: "PuTTY private key", Text: putty, Secrets: body(putty)[2:]},
		{Class: "private key cut off before its footer", Text: "key was:\n" + cut, Secrets: body(cut)},
		{Class: "private key with escaped newlines", Text: `key "` + saJSON + `" rejected`, Secrets: body(k.ecPKCS8)},
		{Class: "private key line by line in a list", List: strings.Split(k.rsaPKCS1, "\n"), Secrets: body(k.rsaPKCS1)},
		{Class: "OpenSSH key line by line in a list", List: strings.Split(ssh, "\n"), Secrets: body(ssh)},
		{
			Class: "service account JSON private_key",
			Text: `{"type": "service_account", "project_id": "demo", "private_key_id": "7d1e9c2b4f", ` +
				`"private_key": "` + saJSON + `", "client_email": "sa@demo.iam.gserviceaccount.com"}`,
			Secrets: append(body(k.ecPKCS8), "7d1e9c2b4f"),
		},
		{Class: "password= in free text", Text: "login as admin password=Pl4in-Text-Pw! failed", Secrets: []string{"Pl4in-Text-Pw!"}},
		{Class: "--password= in free text", Text: "ran mysqldump --user=app --password=Dump-Pw-77x --all-databases", Secrets: []string{"Dump-Pw-77x"}},
		{Class: "--password= in a list", List: []string{"mysqldump", "--user=app", "--password=List-Pw-88y"}, Secrets: []string{"List-Pw-88y"}},
		{Class: "--password and its value as two list elements", List: []string{"psql", "--password", "Sep-Pw-99z", "-h", "db"}, Secrets: []string{"Sep-Pw-99z"}},
		{Class: "--password and its value on separate lines", Text: "psql \\\n  --password\n  Nl-Pw-55q\n  -h db", Secrets: []string{"Nl-Pw-55q"}},
		{Class: "--token value in free text", Text: "deploy --token Tok-Val-4242 --force", Secrets: []string{"Tok-Val-4242"}},
		{Class: "YAML password", Text: "db:\n  host: db.internal\n  password: Yaml-Pw-31337\n  port: 5432\n", Secrets: []string{"Yaml-Pw-31337"}},
		{Class: "JSON password in text", Text: `body was {"user":"bob","password":"Json-Pw-2718"}`, Secrets: []string{"Json-Pw-2718"}},
		{Class: "escaped JSON password in text", Text: `{\"user\":\"bob\",\"passwd\":\"Esc-Pw-1414\"}`, Secrets: []string{"Esc-Pw-1414"}},
		{Class: "Authorization: Basic", Text: "GET /api with Authorization: Basic " + basic + " got 401", Secrets: []string{basic}},
		{Class: "Basic credentials without a header", Text: "curl -H 'basic " + basic + "'", Secrets: []string{basic}},
		{Class: "Authorization: Bearer", Text: "Authorization: Bearer opaque-Bearer-7f3k9", Secrets: []string{"opaque-Bearer-7f3k9"}},
		{Class: "Authorization: Digest", Text: `Authorization: Digest username="bob", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", response="6629fae49393a05397450978507c4ef1"`, Secrets: []string{"dcd98b7102dd2f0e8b11d0f600bfb0c093", "6629fae49393a05397450978507c4ef1"}},
		{Class: "Proxy-Authorization", Text: "Proxy-Authorization: Basic " + basic, Secrets: []string{basic}},
		{Class: "Cookie header", Text: "Cookie: sessionid=Ck-Sess-5a5a5a; csrftoken=Ck-Csrf-6b6b6b", Secrets: []string{"Ck-Sess-5a5a5a", "Ck-Csrf-6b6b6b"}},
		{Class: "Set-Cookie header", Text: "Set-Cookie: __Host-sid=SetCk-7c7c7c7c; Path=/; Secure; HttpOnly", Secrets: []string{"SetCk-7c7c7c7c"}},
		{Class: "X-Api-Key header", Text: "X-Api-Key: Hdr-Key-8d8d8d8d", Secrets: []string{"Hdr-Key-8d8d8d8d"}},
		{Class: "access_token in a URL query", Text: "https://api.example.com/v1/me?access_token=Qry-Acc-9e9e9e&fields=id", Secrets: []string{"Qry-Acc-9e9e9e"}},
		{Class: "api_key in a URL query", Text: "osiris://mcp/resource/report.csv?api_key=Qry-Api-1f1f1f", Secrets: []string{"Qry-Api-1f1f1f"}},
		{Class: "key= in a URL query", Text: "https://maps.example.com/api/geocode?address=x&key=Qry-Key-2a2a2a", Secrets: []string{"Qry-Key-2a2a2a"}},
		{Class: "SAS signature in a URL", Text: "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig=Sas%2BSig%3D3b3b3b", Secrets: []string{"Sas%2BSig%3D3b3b3b"}},
		{Class: "Google API key", Text: "maps failed for " + googleKey, Secrets: []string{googleKey}},
		{Class: "AWS secret access key in free text", Text: "aws configure set default " + awsSecret + " then retry", Secrets: []string{awsSecret}},
		{Class: "aws_secret_access_key assignment", Text: "[default]\naws_access_key_id = " + awsKeyID + "\naws_secret_access_key = " + awsSecret2 + "\n", Secrets: []string{awsKeyID, awsSecret2}},
		{Class: "AWS access key id", Text: "signed by " + awsKeyID, Secrets: []string{awsKeyID}},
		{Class: "GitHub token", Text: "git push with " + ghToken, Secrets: []string{ghToken}},
		{Class: "GitHub fine-grained token", Text: "GH_TOKEN " + ghPAT, Secrets: []string{ghPAT}},
		{Class: "Slack bot token", Text: "chat.postMessage with " + slackBot + " failed", Secrets: []string{slackBot}},
		{Class: "Slack user token", Text: slackUser, Secrets: []string{slackUser}},
		{Class: "Slack webhook", Text: "notify https://hooks.slack.com/services/" + slackHook, Secrets: []string{slackHook}},
		{Class: "Stripe secret key", Text: "charge failed: " + stripeKey, Secrets: []string{stripeKey}},
		{Class: "JSON web token", Text: "token " + jwt + " expired", Secrets: []string{jwt}},
		{Class: "OpenAI key", Text: "OPENAI " + openAIKey, Secrets: []string{openAIKey}},
		{Class: "GitLab token", Text: "clone with " + gitlabToken, Secrets: []string{gitlabToken}},
		{Class: "npm token", Text: "//registry.npmjs.org/:_authToken " + npmToken, Secrets: []string{npmToken}},
		{Class: "SendGrid key", Text: "mail via " + sendgridKey, Secrets: []string{sendgridKey}},
		{Class: "Vault token", Text: "vault login " + vaultToken, Secrets: []string{vaultToken}},
		{Class: "postgres URL with password", Text: "dial postgres://app:Pg-Conn-Pw-4c4c@db.internal:5432/app: refused", Secrets: []string{"Pg-Conn-Pw-4c4c"}},
		{Class: "mongodb+srv URL with password", Text: "mongodb+srv://svc:Mg-Conn-Pw-5d5d@cluster0.example.net/db", Secrets: []string{"Mg-Conn-Pw-5d5d"}},
		{Class: "ADO.NET connection string", Text: "Server=sql1;Database=app;User Id=sa;Password=Ado-Pw-6e6e;Encrypt=true", Secrets: []string{"Ado-Pw-6e6e"}},
		{Class: "ODBC connection string", Text: "DRIVER={ODBC Driver 18};SERVER=sql1;UID=sa;PWD=Odbc-Pw-7f7f;", Secrets: []string{"Odbc-Pw-7f7f"}},
		{Class: "Azure storage connection string", Text: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + azureKey + ";EndpointSuffix=core.windows.net", Secrets: []string{azureKey}},
		{Class: "curl -u user:password", Text: "curl -u deploy:Curl-Pw-8a8a https://ci.example.com", Secrets: []string{"Curl-Pw-8a8a"}},
		{Class: "generic secret= assignment", Text: "config secret=Gen-Sec-9b9b9b loaded", Secrets: []string{"Gen-Sec-9b9b9b"}},
		{Class: "generic token= assignment", Text: "retry token=Gen-Tok-1c1c1c later", Secrets: []string{"Gen-Tok-1c1c1c"}},
		{Class: "generic apikey= assignment", Text: "apikey=Gen-Api-2d2d2d", Secrets: []string{"Gen-Api-2d2d2d"}},
		{Class: "client_secret assignment", Text: "oauth client_id=abc client_secret=Gen-Cs-3e3e3e", Secrets: []string{"Gen-Cs-3e3e3e"}},
		{Class: "random key of unknown origin", Text: "rejected key " + randomSecret, Secrets: []string{randomSecret}},
	}
}

// Ordinary returns text that is not a secret and must survive redaction unchanged. UUIDs and
// hex digests (SHA-256, git commits) are identifiers, not credentials, and stay readable.
func Ordinary() []string {
	return []string{
		"connection refused after 3 retries",
		"please reset your password",
		"the password was rejected by the server",
		"password reset link sent to alice@example.com",
		"Token expired; sign in again",
		"the secret to good tests is a table",
		"basic authentication is disabled",
		"authorization failed for user alice",
		"see the cookie policy; cookies are optional",
		"3f2b9c1e-8d4a-4b6e-9f1a-2c7d5e8b0a13",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"commit 0123456789abcdef0123456789abcdef01234567",
		"https://example.com/search?q=osiris&page=2&sort=asc",
		"osiris://mcp/discovery/disc_d1690eb498c38098/overview.json",
		"postgres://db.internal:5432/app",
		"https://alice@example.com/repo.git",
		"/var/lib/osiris/runs/20261130_040512/output.parquet",
		"/var/lib/docker/overlay2/3f2b9c1e8d4a4b6e9f1a2c7d5e8b0a13/merged/usr/Lib64/Python3",
		"SELECT id, name FROM users WHERE active = true LIMIT 10",
		"max_tokens=4096 token_count: 12 retry_count=3",
		"password=${DB_PASSWORD}",
		"${API_TOKEN}",
		"primary key: id",
		"2026-11-30T04:05:12Z at 10:30",
		"--password-file /etc/osiris/db.pw",
		"-----BEGIN CERTIFICATE-----",
		"psql --password",
	}
}
