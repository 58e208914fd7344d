/**
 * Configurations of the programs the benchmark runs, each as its documentation recommends for a fair
 * reverse proxy: one worker / one thread, upstream keep-alive, no access log. Only 127.0.0.1.
 */

export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** Temp paths nginx insists on, kept inside the run's directory. */
function nginxPaths(dir: string, name: string): string {
  return `pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;`;
}

function nginxHttpTemps(dir: string): string {
  return `client_body_temp_path ${dir}/tmp-body; proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi; uwsgi_temp_path ${dir}/tmp-uwsgi; scgi_temp_path ${dir}/tmp-scgi;`;
}

/**
 * The fixed backends, nobody's code under test: `return 200` on each HTTP port, and for the line
 * exchange a stream server that answers one line and closes (the shape of a classroom worker's reply).
 */
export function backendsConf(dir: string, httpPorts: number[], linePorts: number[]): string {
  const http = httpPorts.map((p) => `listen 127.0.0.1:${p};`).join(' ');
  const line = linePorts.map((p) => `listen 127.0.0.1:${p};`).join(' ');
  return `load_module ${NGINX_STREAM_MODULE};
worker_processes 1;
daemon off;
${nginxPaths(dir, 'backends')}
events { worker_connections 8000; }
http {
  access_log off;
  ${nginxHttpTemps(dir)}
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server { ${http} location / { return 200 "ok\\n"; } }
}
stream {
  server { ${line} return "Worker 1 processed Short request for App1 in 0 ms\\n"; }
}
`;
}

/** nginx as the reverse proxy: 1 worker, upstream keep-alive (ngx_http_upstream_module's keepalive docs). */
export function nginxProxyConf(
  dir: string,
  port: number,
  httpBackends: number[],
  linePort: number,
  lineBackends: number[],
): string {
  const servers = (ports: number[]) => ports.map((p) => `server 127.0.0.1:${p};`).join(' ');
  return `load_module ${NGINX_STREAM_MODULE};
worker_processes 1;
daemon off;
${nginxPaths(dir, 'nginx-proxy')}
events { worker_connections 8000; }
http {
  access_log off;
  ${nginxHttpTemps(dir)}
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream backends { ${servers(httpBackends)} keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
stream {
  upstream lines { ${servers(lineBackends)} }
  server { listen 127.0.0.1:${linePort}; proxy_pass lines; }
}
`;
}

/** HAProxy: one thread, `mode http` with keep-alive and connection reuse, `mode tcp` for HTTP and lines. */
export function haproxyConf(
  ports: { http: number; tcp: number; line: number },
  httpBackends: number[],
  lineBackends: number[],
): string {
  const servers = (ports: number[]) => ports.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join('\n');
  return `global
  nbthread 1
  maxconn 8000

defaults
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

frontend http_in
  mode http
  bind 127.0.0.1:${ports.http}
  option http-keep-alive
  default_backend http_servers

backend http_servers
  mode http
  balance roundrobin
  option http-keep-alive
  http-reuse always
${servers(httpBackends)}

frontend tcp_in
  mode tcp
  bind 127.0.0.1:${ports.tcp}
  default_backend tcp_servers

backend tcp_servers
  mode tcp
  balance roundrobin
${servers(httpBackends)}

frontend line_in
  mode tcp
  bind 127.0.0.1:${ports.line}
  default_backend line_servers

backend line_servers
  mode tcp
  balance roundrobin
${servers(lineBackends)}
`;
}

/** nginx terminating TLS in front of the same backends: 1 worker, TLS 1.2/1.3, upstream keep-alive. */
export function nginxTlsProxyConf(
  dir: string,
  port: number,
  httpBackends: number[],
  cert: string,
  key: string,
): string {
  const servers = httpBackends.map((p) => `server 127.0.0.1:${p};`).join(' ');
  return `worker_processes 1;
daemon off;
${nginxPaths(dir, 'nginx-tls')}
events { worker_connections 8000; }
http {
  access_log off;
  ${nginxHttpTemps(dir)}
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream backends { ${servers} keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** HAProxy terminating TLS (`bind ... ssl crt`, certificate and key in one file), one thread. */
export function haproxyTlsConf(port: number, httpBackends: number[], certAndKey: string): string {
  const servers = httpBackends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join('\n');
  return `global
  nbthread 1
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

frontend https_in
  mode http
  bind 127.0.0.1:${port} ssl crt ${certAndKey}
  option http-keep-alive
  default_backend http_servers

backend http_servers
  mode http
  balance roundrobin
  option http-keep-alive
  http-reuse always
${servers}
`;
}

/** nginx `stream` as a raw TCP balancer (ngx_stream_proxy_module): 1 worker, round robin, no log. */
export function nginxStreamConf(dir: string, port: number, backends: number[]): string {
  const servers = backends.map((p) => `server 127.0.0.1:${p};`).join(' ');
  return `load_module ${NGINX_STREAM_MODULE};
worker_processes 1;
daemon off;
${nginxPaths(dir, 'nginx-stream')}
events { worker_connections 8000; }
stream {
  upstream tcp_backends { ${servers} }
  server { listen 127.0.0.1:${port}; proxy_pass tcp_backends; proxy_timeout 1h; }
}
`;
}

/** HAProxy `mode tcp` alone (one thread, round robin, `timeout tunnel` as for long sessions). */
export function haproxyTcpConf(port: number, backends: number[]): string {
  const servers = backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join('\n');
  return `global
  nbthread 1
  maxconn 8000

defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h

frontend tcp_in
  bind 127.0.0.1:${port}
  default_backend tcp_servers

backend tcp_servers
  balance roundrobin
${servers}
`;
}
