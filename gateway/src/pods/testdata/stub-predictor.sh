#!/bin/sh
# A stand-in for `infergate predictor`, used by the pods tests (gateway/src/pods/tests.rs).
# It checks the flags the supervisor adds (--http-port 0 --host 127.0.0.1, or --unix-socket PATH
# alone), then runs the test's scenario: the shell script named by --storage-uri, with $socket set
# to the --unix-socket path (empty for TCP). The scenario is read by sh, never executed itself, so
# a test that has just written it cannot hit "text file busy".
[ "$1" = predictor ] || { echo "error: expected the predictor subcommand, got '$1'" >&2; exit 64; }
shift
scenario='' port='' host='' socket=''
while [ $# -gt 0 ]; do
    case "$1" in
        --storage-uri) scenario="$2"; shift 2 ;;
        --http-port) port="$2"; shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --unix-socket) socket="$2"; shift 2 ;;
        *) shift ;;
    esac
done
if [ -n "$socket" ]; then
    [ -z "$port$host" ] || { echo "error: expected --unix-socket alone, also got '$port' '$host'" >&2; exit 64; }
else
    [ "$port" = 0 ] || { echo "error: expected --http-port 0, got '$port'" >&2; exit 64; }
    [ "$host" = 127.0.0.1 ] || { echo "error: expected --host 127.0.0.1, got '$host'" >&2; exit 64; }
fi
[ -f "$scenario" ] || { echo "error: no scenario at --storage-uri '$scenario'" >&2; exit 64; }
export socket
exec /bin/sh "$scenario"
