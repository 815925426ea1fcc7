package engine

import (
	"errors"
	"sync"

	"github.com/tollgate/tollgate/llm"
)

// meteredStream settles its reservation exactly once, when the stream ends: at io.EOF
// (complete), at an error, or at Close before the end (the caller went away).
type meteredStream struct {
	llm.Stream
	once     sync.Once
	complete bool
	end      func(u llm.Usage, complete bool, err error)
}

func (s *meteredStream) Recv() (llm.Chunk, error) {
	c, err := s.Stream.Recv()
	if err != nil {
		complete := errors.Is(err, llm.EOF)
		s.once.Do(func() { s.end(s.Stream.Usage(), complete, err) })
	}
	return c, err
}

func (s *meteredStream) Close() error {
	err := s.Stream.Close()
	s.once.Do(func() { s.end(s.Stream.Usage(), false, nil) })
	return err
}
