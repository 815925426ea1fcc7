package emulator

import (
	"net/http"
	"slices"
	"time"
)

// fault is one way a request fails after admission.
type fault int

const (
	noFault fault = iota
	fault500
	fault502
	fault503
	faultOverloaded
	faultDrop
	faultCut
	faultErrorEvent
	faultHang
	faultQuota
	faultStartErrorEvent
	faultSilent
	faultStall
)

// faultNames are the values of the X-Emulator-Fault request header.
var faultNames = map[string]fault{
	"server_error": fault500, "bad_gateway": fault502, "unavailable": fault503,
	"overloaded": faultOverloaded, "drop": faultDrop, "cut": faultCut,
	"error_event": faultErrorEvent, "hang": faultHang, "quota": faultQuota,
	"start_error_event": faultStartErrorEvent, "silent": faultSilent, "stall": faultStall,
}

// FaultNames returns the names that the X-Emulator-Fault request header accepts, sorted:
// each forces one fault of Faults on the request, whatever the configured rates.
//
//	server_error       500 (Faults.ServerError)
//	bad_gateway        502 (Faults.BadGateway)
//	unavailable        503 (Faults.Unavailable)
//	overloaded         Anthropic 529, OpenAI 503, or the model's dialect (Faults.Overloaded)
//	quota              the final 429 / spend limit (Faults.Quota)
//	drop               the connection closes before any response (Faults.Drop)
//	hang               no answer until the client leaves or HangMax (Faults.Hang)
//	cut                the connection closes part-way through the body (Faults.Cut)
//	error_event        200, then an error event mid-stream (Faults.ErrorEvent)
//	start_error_event  200 and the preamble, then an error event before content (Faults.StartErrorEvent)
//	silent             200 headers, then nothing (Faults.Silent)
//	stall              a long silence mid-stream (Faults.Stall, Faults.StallFor)
func FaultNames() []string {
	out := make([]string, 0, len(faultNames))
	for k := range faultNames {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var faultReasons = [...]Reason{noFault: "", fault500: FaultServerError, fault502: FaultBadGateway,
	fault503: FaultUnavailable, faultOverloaded: FaultOverloaded, faultDrop: FaultDrop,
	faultCut: FaultCut, faultErrorEvent: FaultErrorEvent, faultHang: FaultHang, faultQuota: FaultQuota,
	faultStartErrorEvent: FaultStartErrorEvent, faultSilent: FaultSilent, faultStall: FaultStall}

// name returns the fault's X-Emulator-Fault name, "" for none.
func (f fault) name() string {
	for k, v := range faultNames {
		if v == f {
			return k
		}
	}
	return ""
}

// pickFault draws the request's fault. It always draws one number, so that the sequence of
// draws, and thus the answer that follows, does not depend on the rates.
func (c *call) pickFault(r *http.Request) fault {
	u := c.rng.float()
	if name := r.Header.Get("X-Emulator-Fault"); name != "" {
		return faultNames[name]
	}
	f := &c.m.faults
	for _, p := range [...]struct {
		rate float64
		f    fault
	}{{f.ServerError, fault500}, {f.BadGateway, fault502}, {f.Unavailable, fault503},
		{f.Overloaded, faultOverloaded}, {f.Drop, faultDrop}, {f.Cut, faultCut},
		{f.ErrorEvent, faultErrorEvent}, {f.Hang, faultHang}, {f.Quota, faultQuota},
		{f.StartErrorEvent, faultStartErrorEvent}, {f.Silent, faultSilent}, {f.Stall, faultStall}} {
		if u < p.rate {
			return p.f
		}
		u -= p.rate
	}
	return noFault
}

// stallFor is the length of a stall.
func (c *call) stallFor() time.Duration {
	if d := c.m.faults.StallFor; d > 0 {
		return d
	}
	return 30 * time.Second
}
