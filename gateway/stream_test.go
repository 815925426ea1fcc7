package gateway

import "testing"

func TestStopReasonOf(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"openai finish", "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", "length"},
		{"openai delta", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":null}]}\n\n", ""},
		{"anthropic delta", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":5}}\n\n", "max_tokens"},
		{"done", "data: [DONE]\n\n", ""},
		{"no data", "event: ping\n\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stopReasonOf([]byte(tt.raw)); got != tt.want {
				t.Errorf("stopReasonOf(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}
