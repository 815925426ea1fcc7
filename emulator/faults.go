package emulator

import "net/http"

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
)

// faultNames are the values of the X-Emulator-Fault request header.
var faultNames = map[string]fault{
	"server_error": fault500, "bad_gateway": fault502, "unavailable": fault503,
	"overloaded": faultOverloaded, "drop": faultDrop, "cut": faultCut,
	"error_event": faultErrorEvent, "hang": faultHang, "quota": faultQuota,
}

var faultReasons = [...]Reason{noFault: "", fault500: FaultServerError, fault502: FaultBadGateway,
	fault503: FaultUnavailable, faultOverloaded: FaultOverloaded, faultDrop: FaultDrop,
	faultCut: FaultCut, faultErrorEvent: FaultErrorEvent, faultHang: FaultHang, faultQuota: FaultQuota}

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
		{f.ErrorEvent, faultErrorEvent}, {f.Hang, faultHang}, {f.Quota, faultQuota}} {
		if u < p.rate {
			return p.f
		}
		u -= p.rate
	}
	return noFault
}
