# Register a timbang worker (or any HTTP server) as "web" with the local Consul agent:
#   timbang worker --host 0.0.0.0 --port 9002 &
#   consul services register deploy/consul/web-service.hcl
service {
  name = "web"
  port = 9002
  check {
    http     = "http://127.0.0.1:9002/health"
    interval = "2s"
    timeout  = "1s"
  }
}
