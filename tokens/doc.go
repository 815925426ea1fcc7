// Package tokens estimates, offline and in microseconds, how many input tokens an OpenAI
// chat or Anthropic messages request will be billed, so that tollgate can reserve a request's
// worst case before calling the upstream. Nothing is downloaded or loaded at run time.
//
// The estimate is deliberately an overestimate: the reservation is settled against the real
// usage afterwards, so an estimate that is too high only holds budget briefly, while one that
// is too low could let a request overshoot a budget.
//
// # Method
//
// Text is a heuristic over character classes shaped like the tokenizers' own pre-split:
// runs of letters split at case changes (one token each, more for long or all-caps pieces),
// digits in groups of three, punctuation runs, whitespace runs, and non-ASCII runes by
// script (CJK about one token per character, Cyrillic, Greek, Arabic and the like about three
// letters per token, emoji and symbols more). The costs were fitted against o200k_base and
// scaled by 17/16 as a margin for text unlike the corpus. It is a single pass without
// allocation.
//
// A real BPE tokenizer was declined for the request path: github.com/tiktoken-go/tokenizer
// (used by the tests to measure this package) loads a vocabulary of 200k entries and
// allocates per token, which costs more than the rest of a gateway request, and it would
// still be wrong for Anthropic, whose tokenizer is not public.
//
// # Measured error
//
// Against o200k_base (gpt-4o, gpt-4.1, o3, o4-mini, gpt-5) on the samples in
// testdata/corpus, from go test -run Accuracy -v ./tokens:
//
//	sample             bytes   o200k  cl100k   Text   /o200k  /cl100k
//	chinese.txt         1570     392     551    491    1.253    0.891
//	code_go.txt         1736     483     491    595    1.232    1.212
//	code_py.txt         2645     655     651    816    1.246    1.253
//	data.json           1678     654     659    751    1.148    1.140
//	emoji_chat.txt       261      71      79     77    1.085    0.975
//	ids.txt              528     315     324    362    1.149    1.117
//	japanese.txt         957     257     331    300    1.167    0.906
//	log.txt             1166     448     450    491    1.096    1.091
//	mixed_latin.txt      881     207     251    255    1.232    1.016
//	numbers.csv          948     496     496    527    1.062    1.062
//	numbers_prose.txt    280     129     131    143    1.109    1.092
//	prose_en.txt        2632     567     573    658    1.160    1.148
//	russian.txt         2553     348     612    426    1.224    0.696
//	technical_en.md     2244     517     518    641    1.240    1.237
//	chat (OpenAIChat)            372             411    1.105
//
// The tests assert what the table shows: on every sample Text is never under o200k_base and
// at most 30% over it; on every paragraph of 30 tokens or more it is at most 5% under and
// 60% over; the chat request, counted as OpenAI documents (3 tokens per message plus role
// and content, 1 per name, 3 per request), is within the same bounds as whole samples.
//
// cl100k_base (gpt-3.5-turbo, gpt-4) is listed for reference and is NOT bounded: for English,
// code and data it counts like o200k_base, but for non-Latin scripts it counts many more
// tokens (Russian 1.76x, Chinese 1.41x), so Text underestimates it there by up to 30%.
//
// Anthropic's tokenizer is not public, so its counts cannot be measured here.
// AnthropicMessages uses the same heuristic and adds AnthropicMargin (25%) on top of
// everything counted from text, because Claude models are commonly measured to use more
// tokens than o200k_base for the same text. Treat its error as unknown but biased high.
//
// # Generated text
//
// Counter counts what a stream generated, delta by delta, for a stream that ends before the
// upstream reports its usage (see package engine's charging rules). Relaying every corpus
// sample one o200k_base token per delta, from go test -run CounterStreamed -v ./tokens, it
// counts 1.09x to 1.37x o200k_base (Text of the whole: 1.06x to 1.30x): never under,
// slightly more than the whole where deltas cut a run that Text would price as one piece.
//
// # Request bodies
//
// OpenAIChat and AnthropicMessages parse the raw JSON body: they add the chat formats'
// per-message and per-request framing (PerMessage, PerName, PerRequest, PerToolCall), count
// tool definitions and tool arguments as their JSON text (an upper bound of how the
// providers render them), and charge fixed allowances for what the body does not show the
// size of: ImageOpenAI (1,600) or ImageOpenAILow (85) per OpenAI image, ImageAnthropic
// (1,600) per Anthropic image, PDFPage (3,000) per PDF page, and AnthropicTools (346) once
// when an Anthropic request defines tools.
package tokens
