/*
 * edgewire_gpio.h: header-only C client of the Edgewire GPIO broker, for native functions.
 * A function reaches the GPIO lines its function.json declares through the agent's broker, on
 * the unix socket named by $EDGEWIRE_GPIO_SOCKET (/run/edgewire/gpio.sock); see docs/GPIO.md.
 *
 *   char err[256];
 *   int v = ew_gpio_read("GPIO4", err, sizeof err);           -> 0 or 1; -1 on error
 *   if (ew_gpio_write("GPIO17", 1, err, sizeof err) < 0) ...   -> the value; -1 on error
 *   long long ts;
 *   int e = ew_gpio_wait("GPIO4", "rising", 5000, &ts, err, sizeof err);
 *                       -> EW_GPIO_RISING, EW_GPIO_FALLING, EW_GPIO_TIMEOUT; -1 on error
 *
 * On error `err` (when not NULL) holds "code: message", e.g. "permission_denied: line GPIO5 is
 * not declared by function blink (...)". Each call is one connection, one request, one reply.
 *
 * The broker answers one compact JSON object per line, of the few shapes in docs/GPIO.md. This
 * header must stand alone in any container (no library to link), so it carries a small reader
 * for JSON: it walks strings with their escapes, so text inside an error message never passes
 * for a key.
 */
#ifndef EDGEWIRE_GPIO_H
#define EDGEWIRE_GPIO_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define EW_GPIO_DEFAULT_SOCKET "/run/edgewire/gpio.sock"
#define EW_GPIO_SOCKET_ENV "EDGEWIRE_GPIO_SOCKET"

/* What ew_gpio_wait returns. */
#define EW_GPIO_TIMEOUT 0
#define EW_GPIO_RISING 1
#define EW_GPIO_FALLING 2

/* Longest request and reply line handled. */
#define EW_GPIO_MAX_LINE 4096

static inline int ew_gpio__fail(char *err, size_t err_size, const char *code, const char *message) {
  /* Truncated to fit: err_size is the caller's choice. */
  if (err && err_size > 0 && snprintf(err, err_size, "%s: %s", code, message) < 0) err[0] = '\0';
  return -1;
}

/* Appends `text` to `out` as a JSON string. -1 when it does not fit. */
static inline int ew_gpio__put_string(char *out, size_t size, size_t *len, const char *text) {
  const char *p;
  if (*len + 1 >= size) return -1;
  out[(*len)++] = '"';
  for (p = text; *p; ++p) {
    unsigned char c = (unsigned char)*p;
    char chunk[8];
    size_t n;
    if (c == '"' || c == '\\') {
      chunk[0] = '\\';
      chunk[1] = (char)c;
      n = 2;
    } else if (c < 0x20) {
      n = (size_t)snprintf(chunk, sizeof chunk, "\\u%04x", c);
    } else {
      chunk[0] = (char)c;
      n = 1;
    }
    if (*len + n + 1 >= size) return -1;
    memcpy(out + *len, chunk, n);
    *len += n;
  }
  if (*len + 1 >= size) return -1;
  out[(*len)++] = '"';
  out[*len] = '\0';
  return 0;
}

static inline int ew_gpio__put(char *out, size_t size, size_t *len, const char *text) {
  size_t n = strlen(text);
  if (*len + n + 1 >= size) return -1;
  memcpy(out + *len, text, n + 1);
  *len += n;
  return 0;
}

/* Skips a JSON string starting at the quote `p` points to; returns what follows it, or NULL. */
static inline const char *ew_gpio__skip_string(const char *p) {
  for (++p; *p; ++p) {
    if (*p == '\\') {
      if (!*++p) return NULL;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

static inline const char *ew_gpio__skip_space(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') ++p;
  return p;
}

/* The value of the first member named `key` at any depth of `json`, or NULL. */
static inline const char *ew_gpio__find(const char *json, const char *key) {
  size_t key_len = strlen(key);
  const char *p = json;
  while (p && *p) {
    if (*p != '"') {
      ++p;
      continue;
    }
    const char *start = p + 1;
    const char *end = ew_gpio__skip_string(p);
    if (!end) return NULL;
    const char *after = ew_gpio__skip_space(end);
    if (*after == ':' && (size_t)(end - 1 - start) == key_len && memcmp(start, key, key_len) == 0) {
      return ew_gpio__skip_space(after + 1);
    }
    p = end;
  }
  return NULL;
}

static inline int ew_gpio__hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; ++i) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Decodes the JSON string at `p` into `out` (UTF-8, truncated to fit). -1 if `p` is no string. */
static inline int ew_gpio__get_string(const char *p, char *out, size_t size) {
  size_t len = 0;
  if (!p || *p != '"' || size == 0) return -1;
  for (++p; *p && *p != '"'; ++p) {
    char utf8[4];
    size_t n = 1;
    if (*p != '\\') {
      utf8[0] = *p;
    } else {
      ++p;
      switch (*p) {
        case 'b': utf8[0] = '\b'; break;
        case 'f': utf8[0] = '\f'; break;
        case 'n': utf8[0] = '\n'; break;
        case 'r': utf8[0] = '\r'; break;
        case 't': utf8[0] = '\t'; break;
        case 'u': {
          unsigned cp, low;
          if (ew_gpio__hex4(p + 1, &cp) != 0) return -1;
          p += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF && p[1] == '\\' && p[2] == 'u' && ew_gpio__hex4(p + 3, &low) == 0 &&
              low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p += 6;
          }
          if (cp < 0x80) {
            utf8[0] = (char)cp;
          } else if (cp < 0x800) {
            utf8[0] = (char)(0xC0 | (cp >> 6));
            utf8[1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
          } else if (cp < 0x10000) {
            utf8[0] = (char)(0xE0 | (cp >> 12));
            utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            utf8[2] = (char)(0x80 | (cp & 0x3F));
            n = 3;
          } else {
            utf8[0] = (char)(0xF0 | (cp >> 18));
            utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            utf8[3] = (char)(0x80 | (cp & 0x3F));
            n = 4;
          }
          break;
        }
        case '\0': return -1;
        default: utf8[0] = *p; break; /* \" \\ \/ */
      }
    }
    if (len + n < size) {
      memcpy(out + len, utf8, n);
      len += n;
    }
  }
  out[len] = '\0';
  return *p == '"' ? 0 : -1;
}

/* Sends one request line and reads one reply line into `reply`. */
static inline int ew_gpio__exchange(const char *request, char *reply, size_t reply_size, char *err, size_t err_size) {
  const char *path = getenv(EW_GPIO_SOCKET_ENV);
  struct sockaddr_un address;
  char message[EW_GPIO_MAX_LINE];
  size_t sent = 0, total = strlen(request), got = 0;
  int fd;
  if (!path || !*path) path = EW_GPIO_DEFAULT_SOCKET;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof address.sun_path) return ew_gpio__fail(err, err_size, "invalid_argument", "socket path too long");
  strcpy(address.sun_path, path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ew_gpio__fail(err, err_size, "unavailable", strerror(errno));
  if (connect(fd, (const struct sockaddr *)&address, sizeof address) != 0) {
    snprintf(message, sizeof message, "cannot reach the GPIO broker at %s: %s (does function.json declare gpio lines?)",
             path, strerror(errno));
    close(fd);
    return ew_gpio__fail(err, err_size, "unavailable", message);
  }
  while (sent < total) {
    ssize_t n = send(fd, request + sent, total - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      snprintf(message, sizeof message, "cannot write to the GPIO broker: %s", strerror(errno));
      close(fd);
      return ew_gpio__fail(err, err_size, "unavailable", message);
    }
    sent += (size_t)n;
  }
  for (;;) {
    ssize_t n;
    if (got + 1 >= reply_size) {
      close(fd);
      return ew_gpio__fail(err, err_size, "internal", "reply of the GPIO broker too long");
    }
    n = read(fd, reply + got, reply_size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return ew_gpio__fail(err, err_size, "unavailable", "the GPIO broker closed the connection without a reply");
    }
    got += (size_t)n;
    reply[got] = '\0';
    if (memchr(reply, '\n', got)) break;
  }
  close(fd);
  return 0;
}

/* One request → its reply; -1 with `err` set for an error reply or a failed exchange. */
static inline int ew_gpio__call(const char *request, char *reply, size_t reply_size, char *err, size_t err_size) {
  const char *error;
  if (ew_gpio__exchange(request, reply, reply_size, err, err_size) != 0) return -1;
  error = ew_gpio__find(reply, "error");
  if (error) {
    char code[64], message[EW_GPIO_MAX_LINE];
    if (ew_gpio__get_string(ew_gpio__find(error, "code"), code, sizeof code) != 0) strcpy(code, "internal");
    if (ew_gpio__get_string(ew_gpio__find(error, "message"), message, sizeof message) != 0) strcpy(message, reply);
    return ew_gpio__fail(err, err_size, code, message);
  }
  return 0;
}

static inline int ew_gpio__value_reply(const char *reply, char *err, size_t err_size) {
  const char *value = ew_gpio__find(reply, "value");
  if (value && (*value == '0' || *value == '1')) return *value - '0';
  return ew_gpio__fail(err, err_size, "internal", "unexpected reply from the GPIO broker");
}

/* The line's level (0 or 1), or -1. */
static inline int ew_gpio_read(const char *line, char *err, size_t err_size) {
  char request[EW_GPIO_MAX_LINE], reply[EW_GPIO_MAX_LINE];
  size_t len = 0;
  if (!line) return ew_gpio__fail(err, err_size, "invalid_argument", "a line name is required");
  if (ew_gpio__put(request, sizeof request, &len, "{\"op\":\"read\",\"line\":") != 0 ||
      ew_gpio__put_string(request, sizeof request, &len, line) != 0 ||
      ew_gpio__put(request, sizeof request, &len, "}\n") != 0) {
    return ew_gpio__fail(err, err_size, "invalid_argument", "line name too long");
  }
  if (ew_gpio__call(request, reply, sizeof reply, err, err_size) != 0) return -1;
  return ew_gpio__value_reply(reply, err, err_size);
}

/* Sets a declared output to `value` (0 or 1); returns it, or -1. */
static inline int ew_gpio_write(const char *line, int value, char *err, size_t err_size) {
  char request[EW_GPIO_MAX_LINE], reply[EW_GPIO_MAX_LINE];
  size_t len = 0;
  if (!line) return ew_gpio__fail(err, err_size, "invalid_argument", "a line name is required");
  if (value != 0 && value != 1) return ew_gpio__fail(err, err_size, "invalid_argument", "value must be 0 or 1");
  if (ew_gpio__put(request, sizeof request, &len, "{\"op\":\"write\",\"line\":") != 0 ||
      ew_gpio__put_string(request, sizeof request, &len, line) != 0 ||
      ew_gpio__put(request, sizeof request, &len, value ? ",\"value\":1}\n" : ",\"value\":0}\n") != 0) {
    return ew_gpio__fail(err, err_size, "invalid_argument", "line name too long");
  }
  if (ew_gpio__call(request, reply, sizeof reply, err, err_size) != 0) return -1;
  return ew_gpio__value_reply(reply, err, err_size);
}

/* Waits for the next `edge` ("rising", "falling", "both"; NULL = both) of a declared input, at
 * most `timeout_ms` (< 0: no limit). EW_GPIO_RISING / EW_GPIO_FALLING (and the edge's monotonic
 * time in *timestamp_ns when not NULL), EW_GPIO_TIMEOUT, or -1. */
static inline int ew_gpio_wait(const char *line, const char *edge, long timeout_ms, long long *timestamp_ns, char *err,
                               size_t err_size) {
  char request[EW_GPIO_MAX_LINE], reply[EW_GPIO_MAX_LINE], kind[16], number[48];
  const char *value;
  size_t len = 0;
  if (!line) return ew_gpio__fail(err, err_size, "invalid_argument", "a line name is required");
  if (ew_gpio__put(request, sizeof request, &len, "{\"op\":\"wait\",\"line\":") != 0 ||
      ew_gpio__put_string(request, sizeof request, &len, line) != 0 ||
      ew_gpio__put(request, sizeof request, &len, ",\"edge\":") != 0 ||
      ew_gpio__put_string(request, sizeof request, &len, edge ? edge : "both") != 0) {
    return ew_gpio__fail(err, err_size, "invalid_argument", "line or edge name too long");
  }
  if (timeout_ms >= 0) {
    snprintf(number, sizeof number, ",\"timeoutMs\":%ld", timeout_ms);
    if (ew_gpio__put(request, sizeof request, &len, number) != 0) {
      return ew_gpio__fail(err, err_size, "invalid_argument", "line name too long");
    }
  }
  if (ew_gpio__put(request, sizeof request, &len, "}\n") != 0) {
    return ew_gpio__fail(err, err_size, "invalid_argument", "line name too long");
  }
  if (ew_gpio__call(request, reply, sizeof reply, err, err_size) != 0) return -1;
  value = ew_gpio__find(reply, "timeout");
  if (value && strncmp(value, "true", 4) == 0) return EW_GPIO_TIMEOUT;
  if (ew_gpio__get_string(ew_gpio__find(reply, "edge"), kind, sizeof kind) == 0) {
    value = ew_gpio__find(reply, "timestampNs");
    if (timestamp_ns) *timestamp_ns = value ? strtoll(value, NULL, 10) : 0;
    if (strcmp(kind, "rising") == 0) return EW_GPIO_RISING;
    if (strcmp(kind, "falling") == 0) return EW_GPIO_FALLING;
  }
  return ew_gpio__fail(err, err_size, "internal", "unexpected reply from the GPIO broker");
}

#endif /* EDGEWIRE_GPIO_H */
