# Sourced by the scripts that run the console beside the simulator on this machine's loopback.

free_port() { # a loopback port nothing listens on
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_sim() { # start_sim SIM_BINARY LOG: on free ports; sets sim_pid, allowed (its origins) and origin (us2's)
  "$1" --port 0 >"$2" 2>&1 &
  sim_pid=$!
  for _ in $(seq 200); do grep -q "CONCUR_ALLOWED_HOSTS=" "$2" 2>/dev/null && break; sleep 0.1; done
  allowed=$(sed -n 's/.*CONCUR_ALLOWED_HOSTS=//p' "$2")
  [ -n "$allowed" ] || { echo "the simulator did not start:" >&2; cat "$2" >&2; return 1; }
  origin=${allowed%%,*}
}

seed_company() { # a new app and company at the simulator's $origin: their credentials, as JSON
  curl -fsS -X POST "$origin/_sim/seed" -H 'content-type: application/json' -d '{"data_center":"us2"}'
}

json_field() { # json_field NAME JSON
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" <<<"$2"
}
