package redisstore

// pack is a MessagePack array of integers and short strings, the compact form in which the
// scripts take their numbers (one argument that Lua's cmsgpack decodes in one call, instead
// of one argument and one tonumber per number) and in which a reservation stores its
// entries. Lua holds numbers as doubles, so callers keep them below 2^53.
type pack struct {
	b []byte
	n int
}

func newPack(capacity int) *pack {
	// Header: 0xdc and a 16-bit count, patched by bytes.
	return &pack{b: append(make([]byte, 0, capacity), 0xdc, 0, 0)}
}

func (p *pack) int(v int64) {
	p.n++
	switch {
	case v >= 0 && v < 128:
		p.b = append(p.b, byte(v))
	case v < 0 && v >= -32:
		p.b = append(p.b, byte(v))
	case v >= 0 && v < 1<<16:
		p.b = append(p.b, 0xcd, byte(v>>8), byte(v))
	case v >= 0 && v < 1<<32:
		p.b = append(p.b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		p.b = append(p.b, 0xd3, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

func (p *pack) str(s string) {
	p.n++
	switch {
	case len(s) < 32:
		p.b = append(p.b, 0xa0|byte(len(s)))
	case len(s) < 256:
		p.b = append(p.b, 0xd9, byte(len(s)))
	default:
		p.b = append(p.b, 0xda, byte(len(s)>>8), byte(len(s)))
	}
	p.b = append(p.b, s...)
}

func (p *pack) bytes() []byte {
	p.b[1], p.b[2] = byte(p.n>>8), byte(p.n)
	return p.b
}
