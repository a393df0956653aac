// libmosquitto (Debian's libmosquitto1), opened with dlopen on first use rather than linked: the
// board agent links everything but libc statically (cmake/agent_static.cmake) and Debian ships
// no static libmosquitto. A board without libmosquitto1 installed still runs every other node;
// a flow with mqtt nodes then fails to deploy with an error that says so.
#pragma once

#include <mosquitto.h>

#include "common/error/error.hpp"

namespace ew::flows::nodes {

struct MosquittoLibrary {
  decltype(&mosquitto_lib_init) lib_init = nullptr;
  decltype(&mosquitto_new) create = nullptr;
  decltype(&mosquitto_destroy) destroy = nullptr;
  decltype(&mosquitto_connect_async) connect_async = nullptr;
  decltype(&mosquitto_disconnect) disconnect = nullptr;
  decltype(&mosquitto_loop_start) loop_start = nullptr;
  decltype(&mosquitto_loop_stop) loop_stop = nullptr;
  decltype(&mosquitto_int_option) int_option = nullptr;
  decltype(&mosquitto_subscribe_v5) subscribe_v5 = nullptr;  // 3.1.1 connections pass no properties
  decltype(&mosquitto_unsubscribe) unsubscribe = nullptr;
  decltype(&mosquitto_publish) publish = nullptr;
  decltype(&mosquitto_connect_v5_callback_set) connect_v5_callback_set = nullptr;  // 3.1.1 too: props null
  decltype(&mosquitto_disconnect_callback_set) disconnect_callback_set = nullptr;
  decltype(&mosquitto_message_v5_callback_set) message_v5_callback_set = nullptr;
  decltype(&mosquitto_subscribe_callback_set) subscribe_callback_set = nullptr;
  decltype(&mosquitto_reconnect_delay_set) reconnect_delay_set = nullptr;
  decltype(&mosquitto_strerror) strerror = nullptr;
  decltype(&mosquitto_log_callback_set) log_callback_set = nullptr;
  decltype(&mosquitto_tls_set) tls_set = nullptr;
  decltype(&mosquitto_tls_insecure_set) tls_insecure_set = nullptr;
  decltype(&mosquitto_tls_opts_set) tls_opts_set = nullptr;
  decltype(&mosquitto_username_pw_set) username_pw_set = nullptr;
  decltype(&mosquitto_sub_topic_check) sub_topic_check = nullptr;  // a subscription filter's syntax
  decltype(&mosquitto_topic_matches_sub) topic_matches_sub = nullptr;
  decltype(&mosquitto_reason_string) reason_string = nullptr;
  decltype(&mosquitto_property_add_varint) property_add_varint = nullptr;
  decltype(&mosquitto_property_read_varint) property_read_varint = nullptr;
  decltype(&mosquitto_property_read_int32) property_read_int32 = nullptr;
  decltype(&mosquitto_property_read_byte) property_read_byte = nullptr;
  decltype(&mosquitto_validate_utf8) validate_utf8 = nullptr;  // MQTT's UTF-8 rules: no control characters
  decltype(&mosquitto_property_free_all) property_free_all = nullptr;

  // The process-wide instance, loaded (and mosquitto_lib_init'ed) once; Unavailable naming the
  // library when it is not installed. Thread-safe.
  static Result<const MosquittoLibrary*> Get();
};

}  // namespace ew::flows::nodes
