package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
)

// Request headers the gateway reads besides the SDKs' own.
const (
	HeaderSessionID      = "X-Session-Id"
	HeaderAgentID        = "X-Agent-Id"
	HeaderPriority       = "X-Priority"
	HeaderRequestTimeout = "X-Request-Timeout"
)

// secret returns the virtual key a request carries: "Authorization: Bearer <key>" as the
// OpenAI SDKs send it, else "x-api-key" as the Anthropic SDKs do.
func secret(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return ""
	}
	return r.Header.Get("X-Api-Key")
}

// badHeader is a request header that cannot be read; it is answered with 400.
type badHeader struct {
	name, value, want string
}

func (e *badHeader) Error() string {
	v := e.value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("header %s: %q is not %s", e.name, v, e.want)
}

// priority reads X-Priority and caps it at the key's MaxPriority. requested is what the
// header asked for (0 when absent); capped reports that it was lowered.
func priority(r *http.Request, k *keys.Key) (p, requested int, capped bool, err error) {
	v := r.Header.Get(HeaderPriority)
	if v == "" {
		return 0, 0, false, nil
	}
	n, perr := strconv.Atoi(strings.TrimSpace(v))
	if perr != nil {
		return 0, 0, false, &badHeader{HeaderPriority, v, "an integer"}
	}
	if n > k.MaxPriority {
		return k.MaxPriority, n, true, nil
	}
	return n, n, false, nil
}

// requestTimeout reads X-Request-Timeout: a number of seconds ("30", "2.5") or a Go
// duration ("1m30s"). It returns 0 when the header is absent.
func requestTimeout(r *http.Request) (time.Duration, error) {
	v := strings.TrimSpace(r.Header.Get(HeaderRequestTimeout))
	if v == "" {
		return 0, nil
	}
	bad := &badHeader{HeaderRequestTimeout, v, "a positive number of seconds or a duration such as 1m30s"}
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || f > 1e9 || f != f {
			return 0, bad
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// identity builds who pays and who waits for a request: tenant and key from the virtual
// key, session from X-Session-Id or else the body's hint (OpenAI "user", Anthropic
// metadata.user_id), agent from X-Agent-Id.
func identity(r *http.Request, k *keys.Key, hint string, prio int) llm.Identity {
	id := llm.Identity{Key: k.ID, Tenant: k.Tenant, Agent: r.Header.Get(HeaderAgentID),
		Session: r.Header.Get(HeaderSessionID), Priority: prio}
	if id.Session == "" {
		id.Session = hint
	}
	return id
}
