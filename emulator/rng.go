package emulator

// rng is a small deterministic generator (SplitMix64). Each request gets its own, seeded
// from the Config seed and the request's arrival number, so that request n meets the same
// choices for a given seed whatever the concurrency, and no lock is shared on the hot path.
type rng struct{ s uint64 }

func newRNG(seed, n uint64) rng {
	// Hash (seed, n) into the state: a linear seed would make request n+1's sequence that
	// of request n shifted by one draw.
	return rng{s: mix64(mix64(seed) ^ n)}
}

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float returns a uniform float in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a uniform int in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendID appends n random base-62 characters.
func (r *rng) appendID(b []byte, n int) []byte {
	for range n {
		b = append(b, idAlphabet[r.intn(len(idAlphabet))])
	}
	return b
}
