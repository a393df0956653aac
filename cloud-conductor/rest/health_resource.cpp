// /healthz for load balancers and systemd checks, /metrics for Prometheus. Both answer inline:
// neither touches the store.
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"

namespace ew::rest {

void AddHealthRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"GET", "/healthz", Access::kPublic, Execution::kInline,
              [](Exchange e) { e.Reply(JsonResponse(200, nlohmann::json{{"status", "ok"}})); }});
  routes.Add({"GET", "/metrics", Access::kPublic, Execution::kInline, [&deps](Exchange e) {
                server::HttpResponse response;
                response.content_type = "text/plain; version=0.0.4";
                response.body = deps.metrics.RenderPrometheus();
                e.Reply(std::move(response));
              }});
}

}  // namespace ew::rest
