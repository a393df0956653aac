/*
 * gpio: the sh client of the Edgewire GPIO broker, at /opt/edgewire/bin/gpio in a function's
 * container (docs/GPIO.md → Functions).
 *
 *   gpio get LINE                                   prints 0 or 1
 *   gpio set LINE 0|1                               prints nothing (stdout is the function's result)
 *   gpio wait LINE [rising|falling|both] [TIMEOUT_MS]
 *                                                   prints "rising" or "falling"; "timeout" and exit 2
 *
 * Errors: exit 1, "gpio: code: message" on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgewire_gpio.h"

static const char usage[] =
    "usage: gpio get LINE\n"
    "       gpio set LINE 0|1\n"
    "       gpio wait LINE [rising|falling|both] [TIMEOUT_MS]\n";

static int fail_usage(const char *why) {
  fprintf(stderr, "gpio: %s\n%s", why, usage);
  return 1;
}

static int fail(const char *err) {
  fprintf(stderr, "gpio: %s\n", err);
  return 1;
}

/* A non-negative decimal number, the whole argument. */
static int parse_ms(const char *text, long *out) {
  char *end = NULL;
  long value;
  if (!*text || *text == '-' || *text == '+') return -1;
  value = strtol(text, &end, 10);
  if (*end != '\0' || value < 0) return -1;
  *out = value;
  return 0;
}

int main(int argc, char **argv) {
  char err[EW_GPIO_MAX_LINE];
  const char *command, *line;
  if (argc < 3) return fail_usage(argc == 2 && strcmp(argv[1], "--help") == 0 ? "help" : "a command and a line are required");
  command = argv[1];
  line = argv[2];
  if (strcmp(command, "get") == 0) {
    int value;
    if (argc != 3) return fail_usage("get takes one line");
    value = ew_gpio_read(line, err, sizeof err);
    if (value < 0) return fail(err);
    printf("%d\n", value);
    return 0;
  }
  if (strcmp(command, "set") == 0) {
    if (argc != 4 || (strcmp(argv[3], "0") != 0 && strcmp(argv[3], "1") != 0)) return fail_usage("set takes a line and 0 or 1");
    if (ew_gpio_write(line, argv[3][0] - '0', err, sizeof err) < 0) return fail(err);
    return 0;
  }
  if (strcmp(command, "wait") == 0) {
    const char *edge = "both";
    long timeout_ms = -1;
    long long timestamp = 0;
    int result;
    if (argc > 5) return fail_usage("wait takes a line, an edge and a timeout");
    if (argc >= 4) {
      edge = argv[3];
      if (strcmp(edge, "rising") != 0 && strcmp(edge, "falling") != 0 && strcmp(edge, "both") != 0) {
        return fail_usage("the edge must be rising, falling or both");
      }
    }
    if (argc == 5 && parse_ms(argv[4], &timeout_ms) != 0) return fail_usage("TIMEOUT_MS must be a number of milliseconds");
    result = ew_gpio_wait(line, edge, timeout_ms, &timestamp, err, sizeof err);
    if (result < 0) return fail(err);
    if (result == EW_GPIO_TIMEOUT) {
      printf("timeout\n");
      return 2;
    }
    printf("%s\n", result == EW_GPIO_RISING ? "rising" : "falling");
    return 0;
  }
  return fail_usage("unknown command");
}
