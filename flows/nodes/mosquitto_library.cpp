#include "flows/nodes/mosquitto_library.hpp"

#include <dlfcn.h>

#include <string>

namespace ew::flows::nodes {

namespace {

Result<MosquittoLibrary> Load() {
  void* handle = dlopen("libmosquitto.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return Unavailable("MQTT nodes need libmosquitto1 on this host (dlopen: " + std::string(dlerror()) + ")");
  MosquittoLibrary lib;
  bool ok = true;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
    if (!fn) ok = false;
  };
  bind(lib.lib_init, "mosquitto_lib_init");
  bind(lib.create, "mosquitto_new");
  bind(lib.destroy, "mosquitto_destroy");
  bind(lib.connect_async, "mosquitto_connect_async");
  bind(lib.disconnect, "mosquitto_disconnect");
  bind(lib.loop_start, "mosquitto_loop_start");
  bind(lib.loop_stop, "mosquitto_loop_stop");
  bind(lib.int_option, "mosquitto_int_option");
  bind(lib.subscribe_v5, "mosquitto_subscribe_v5");
  bind(lib.unsubscribe, "mosquitto_unsubscribe");
  bind(lib.publish, "mosquitto_publish");
  bind(lib.connect_v5_callback_set, "mosquitto_connect_v5_callback_set");
  bind(lib.disconnect_callback_set, "mosquitto_disconnect_callback_set");
  bind(lib.message_v5_callback_set, "mosquitto_message_v5_callback_set");
  bind(lib.subscribe_callback_set, "mosquitto_subscribe_callback_set");
  bind(lib.reconnect_delay_set, "mosquitto_reconnect_delay_set");
  bind(lib.strerror, "mosquitto_strerror");
  bind(lib.log_callback_set, "mosquitto_log_callback_set");
  bind(lib.tls_set, "mosquitto_tls_set");
  bind(lib.tls_insecure_set, "mosquitto_tls_insecure_set");
  bind(lib.tls_opts_set, "mosquitto_tls_opts_set");
  bind(lib.username_pw_set, "mosquitto_username_pw_set");
  bind(lib.sub_topic_check, "mosquitto_sub_topic_check");
  bind(lib.topic_matches_sub, "mosquitto_topic_matches_sub");
  bind(lib.reason_string, "mosquitto_reason_string");
  bind(lib.property_add_varint, "mosquitto_property_add_varint");
  bind(lib.property_read_varint, "mosquitto_property_read_varint");
  bind(lib.property_read_int32, "mosquitto_property_read_int32");
  bind(lib.property_read_byte, "mosquitto_property_read_byte");
  bind(lib.validate_utf8, "mosquitto_validate_utf8");
  bind(lib.property_free_all, "mosquitto_property_free_all");
  if (!ok) return Unavailable("libmosquitto.so.1 lacks a function the MQTT nodes need");
  lib.lib_init();
  return lib;  // the handle stays open for the life of the process
}

}  // namespace

Result<const MosquittoLibrary*> MosquittoLibrary::Get() {
  static const Result<MosquittoLibrary> loaded = Load();
  if (!loaded) return tl::unexpected<Error>(loaded.error());
  return &*loaded;
}

}  // namespace ew::flows::nodes
