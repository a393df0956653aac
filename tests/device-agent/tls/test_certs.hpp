// Certificates for the agent's TLS tests, made once with the openssl CLI:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 ... (CAs)
//   openssl x509 -req -CA ca.pem -CAkey ca.key -days 36500|-1 -extfile <subjectAltName> (servers)
// The integration test (tests/integration/test_tls_clients.py) makes fresh ones each run.
#pragma once

namespace ew::agent::testing {

// "Test CA", self-signed, valid for 100 years.
inline constexpr const char* kTestCa = R"PEM(-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIUZjHXpuaVPwia/zH5VWqYaKvQ+4UwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjEyMDQyMDMzMjBaGA8yMTI2MTExMDIw
MzMyMFowEjEQMA4GA1UEAwwHVGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABN/OtPJy9VT1cTPyCVteUD3YuqgB972FH2QS1/o+arGi2N5H2eEFFBKa/7/u
WeBCkXO3mDp+BJ7X6WXxHlOzYA+jUzBRMB0GA1UdDgQWBBRgJ6VomMu71TY0rdem
TuX040+tATAfBgNVHSMEGDAWgBRgJ6VomMu71TY0rdemTuX040+tATAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQD/YqX45Da/CBu0tH4kcEYbbS4P
bl4C23EvNlXj3rBXaQIgK9MDY7jamv0B7KJG3T5pnbWU+AYE+vbSY1ew05CdP+A=
-----END CERTIFICATE-----
)PEM";

// "Other CA": signed nothing the tests use.
inline constexpr const char* kOtherCa = R"PEM(-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUHp6FsOQut/WNf8VL9RiWOAdRN3wwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIT3RoZXIgQ0EwIBcNMjYxMjA0MjAzMzI5WhgPMjEyNjExMTAy
MDMzMjlaMBMxETAPBgNVBAMMCE90aGVyIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEaTc5dcBVuw3LzegoFJ/39hYtfS2DSeCyPpjMr0Q3jMQzAY0Xd+Q93VCm
1vyq5809PJKYCzxs9ZjFBEvSfDxVTaNTMFEwHQYDVR0OBBYEFMt83Ld79Y6uv7KI
34IKqCf/ihQxMB8GA1UdIwQYMBaAFMt83Ld79Y6uv7KI34IKqCf/ihQxMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgb4aqQ7oXP+owg/U8g4sAy9MT
usrQIc5A/FZjIXY7LckCIQDbcP+uxve2k1QlklABwZC61LXliPJNJz9q1gt5Loau
dQ==
-----END CERTIFICATE-----
)PEM";

// The key of every conductor certificate below (P-256).
inline constexpr const char* kServerKey = R"PEM(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgb/9qOEmIcQAly6EQ
OA+IilZKKf/9S3vjNdLse0hIt/OhRANCAAQIWuVKik7arQ5Y2FdKGg1D5bCuojvk
Zqwv5DEeiFY9tc9Q87TCXZ7lVnPvI9H4XEmou2VDylzpUrPubxGn1+tS
-----END PRIVATE KEY-----
)PEM";

// CN=conductor, SAN IP:127.0.0.1 and DNS:localhost, signed by kTestCa, valid for 100 years.
inline constexpr const char* kServerCert = R"PEM(-----BEGIN CERTIFICATE-----
MIIBiDCCAS6gAwIBAgIUShJp573l08b3otYZCjmIlKPnZ2owCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjEyMDQyMDMzMjlaGA8yMTI2MTExMDIw
MzMyOVowFDESMBAGA1UEAwwJY29uZHVjdG9yMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAECFrlSopO2q0OWNhXShoNQ+WwrqI75GasL+QxHohWPbXPUPO0wl2e5VZz
7yPR+FxJqLtlQ8pc6VKz7m8Rp9frUqNeMFwwGgYDVR0RBBMwEYcEfwAAAYIJbG9j
YWxob3N0MB0GA1UdDgQWBBToG5qqZbrHO5ZtVK+5Vax/ukE2OjAfBgNVHSMEGDAW
gBRgJ6VomMu71TY0rdemTuX040+tATAKBggqhkjOPQQDAgNIADBFAiAL9z+uB5/r
HuveyRRB1atHFSy7i5m0rF0duS5vslELYwIhAM6F+h509JygNRTOOlQabWwpKBmp
zu9fhm5sZbuHc5Gv
-----END CERTIFICATE-----
)PEM";

// Same key, SAN DNS:elsewhere.example only, signed by kTestCa.
inline constexpr const char* kWrongNameCert = R"PEM(-----BEGIN CERTIFICATE-----
MIIBijCCATCgAwIBAgIUShJp573l08b3otYZCjmIlKPnZ2swCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjEyMDQyMDMzMjlaGA8yMTI2MTExMDIw
MzMyOVowFDESMBAGA1UEAwwJY29uZHVjdG9yMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAECFrlSopO2q0OWNhXShoNQ+WwrqI75GasL+QxHohWPbXPUPO0wl2e5VZz
7yPR+FxJqLtlQ8pc6VKz7m8Rp9frUqNgMF4wHAYDVR0RBBUwE4IRZWxzZXdoZXJl
LmV4YW1wbGUwHQYDVR0OBBYEFOgbmqplusc7lm1Ur7lVrH+6QTY6MB8GA1UdIwQY
MBaAFGAnpWiYy7vVNjSt16ZO5fTjT60BMAoGCCqGSM49BAMCA0gAMEUCIQDrxTEg
4EVNwHwo3Ca5oXv6rXWwXFX5vlsr7qRXIVyMegIgCny9h2zBqDpkEeKt033PbD5j
T4GcFpu/ZuTfSBXpB9c=
-----END CERTIFICATE-----
)PEM";

// Same key and names as kServerCert, signed by kTestCa, expired (notAfter one day before notBefore).
inline constexpr const char* kExpiredCert = R"PEM(-----BEGIN CERTIFICATE-----
MIIBhjCCASygAwIBAgIUShJp573l08b3otYZCjmIlKPnZ2kwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAeFw0yNjEyMDQyMDMzMjFaFw0yNjEyMDMyMDMz
MjFaMBQxEjAQBgNVBAMMCWNvbmR1Y3RvcjBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABAha5UqKTtqtDljYV0oaDUPlsK6iO+RmrC/kMR6IVj21z1DztMJdnuVWc+8j
0fhcSai7ZUPKXOlSs+5vEafX61KjXjBcMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2Fs
aG9zdDAdBgNVHQ4EFgQU6BuaqmW6xzuWbVSvuVWsf7pBNjowHwYDVR0jBBgwFoAU
YCelaJjLu9U2NK3Xpk7l9ONPrQEwCgYIKoZIzj0EAwIDSAAwRQIgbQqjWYdz97Mn
BBMrZFGZ+vHXAAzfO9QRlbOEPJoIuTcCIQCHi+TyyCVTQyH8B+OmpTlxwG33YFwu
R53T5jutfftT8g==
-----END CERTIFICATE-----
)PEM";

// Digests of kServerCert, as `openssl x509 -outform der | openssl dgst -sha256` and
// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64` print them.
inline constexpr const char* kServerCertSha256 = "400836aa9a8852f73f0b69bbbcfe883ccc27aaea70a4f6c37b4fc925d1e3dbee";
inline constexpr const char* kServerKeySha256Base64 = "tYQOs/1o3/Q1OetbNY88oIzhyORpQj95i1+3llhAHTc=";

}  // namespace ew::agent::testing
