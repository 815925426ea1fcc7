// Package translate carries a caller's request across wire formats, OpenAI Chat
// Completions ⇄ Anthropic Messages and OpenAI Responses → Anthropic Messages, when a
// fallback chain sends it to a model of the other provider. It works on the caller's raw body, not on tollgate's neutral form, and never
// drops a field silently: every member is mapped, or named by an *llm.UntranslatableError
// (errors.Is(err, llm.ErrUntranslatable)) so that the engine can skip that step of the
// chain and the gateway can answer 400 naming the field when every step refuses. A
// malformed body is the caller's own bad request (a *wire.RequestError, errors.Is
// openai.ErrBadRequest): the same body would fail at its own provider too.
//
// Answers and streams go back through the providers' encoders (openai.EncodeResponse,
// openai.StreamEncoder, anthropic.EncodeResponse, anthropic.StreamEncoder), fed with the
// neutral llm.Response and llm.Chunk that the providers fill: text, visible reasoning,
// tool calls, stop reason and usage.
//
// # OpenAI to Anthropic (ToAnthropic)
//
//   - messages: system and developer messages become the system prompt (text blocks, in
//     order; one later in the conversation joins it, since Anthropic has one system prompt);
//     user content parts become text, image and document blocks; an assistant's content,
//     refusal and tool_calls become text and tool_use blocks (arguments parsed: arguments
//     that are not a JSON object are refused); tool messages become tool_result blocks,
//     consecutive ones merged into one user turn, before any user text that follows. Tool
//     call ids keep their value, with bytes outside [a-zA-Z0-9_-] replaced by '_' in both the
//     call and its result. The legacy function_call and function messages get a synthesized
//     id ("toolu_legacy_<i>"). An empty assistant message is left out. A conversation ending
//     with an assistant message is refused: Anthropic would continue it (a prefill) where
//     OpenAI answers anew. Message "name" is not carried (Anthropic has no participant
//     names); annotations and reasoning_content echoed back from an earlier answer are
//     output, not input, and are not carried either.
//   - images: a base64 data URL becomes a base64 source (JPEG, PNG, GIF, WebP; other types
//     are refused), an http(s) URL a url source; "detail" has no counterpart (Anthropic
//     sizes images itself) and is not carried. A file part with a base64 PDF becomes a
//     document block (its filename the title); a file_id, or any other file, is refused.
//     input_audio is refused.
//   - tools: function tools become tools with input_schema (parameters, or an empty object
//     schema), description and strict. functions (legacy) likewise. Custom tools are
//     refused.
//   - tool_choice: "auto" → auto, "none" → none, "required" → any, a named function → tool;
//     allowed_tools and custom choices are refused. parallel_tool_calls false →
//     disable_parallel_tool_use true (on auto when no choice was given). function_call
//     (legacy) likewise.
//   - response_format: json_schema and json_object are carried by the tool-forcing
//     pattern: a tool named after the schema ("json_response" for json_object) whose
//     input_schema is the schema, forced by tool_choice (or "any" beside the caller's own
//     tools, which leaves the model the same two choices as OpenAI: call a tool or answer).
//     Request.ResponseTool names it, and the anthropic provider reads that tool_use back as
//     the answer's text with a natural stop. Refused: a schema whose top level is not an
//     object, a name that one of the caller's tools has, a caller's tool_choice other than
//     auto. With thinking on, Anthropic forbids forcing a tool, so a json_schema is carried
//     as native structured output (output_config.format) instead, and json_object refused.
//   - sampling: temperature is the same softmax temperature in both APIs; OpenAI's range is
//     0..2, Anthropic's 0..1, so a value above 1 is sent as 1. top_p as is; top_k (vLLM's
//     and Ollama's extension of this format) as is. stop (a string or up to 4) →
//     stop_sequences. Non-zero frequency_penalty or presence_penalty, a logit_bias,
//     logprobs, top_logprobs, seed (Anthropic has no seeded sampling, so reproducibility
//     cannot be kept), n > 1, verbosity other than "medium", audio output or an audio
//     modality, web_search_options and moderation are refused. A parameter at its default
//     (null, 0, false, 1 choice) is accepted.
//   - max_tokens / max_completion_tokens: the target's cap, else the caller's, else
//     DefaultMaxTokens (Anthropic requires one).
//   - reasoning_effort: low, medium, high, xhigh, max → thinking with a budget of 1024,
//     2048, 4096, 8192, 16384 tokens, kept below max_tokens (refused when that leaves less than
//     Anthropic's minimum of 1024); none and minimal → no thinking. With thinking on,
//     Anthropic accepts no temperature but 1, no top_p below 0.95, no top_k, and no forced
//     tool: each is refused by name.
//   - user → metadata.user_id; safety_identifier likewise when there is no user.
//   - service_tier: auto → auto, default → standard_only; flex, scale and priority name
//     OpenAI contracts with no Anthropic counterpart and are not carried.
//   - not carried, because they steer OpenAI's own services and not the answer: store,
//     metadata (stored completions), prompt_cache_key, prompt_cache_retention,
//     prompt_cache_options (Anthropic's cache needs breakpoints the caller did not place),
//     prediction (a latency optimisation), stream_options (the target's Stream decides;
//     include_usage is the gateway's business, answered by openai.IncludeUsage).
//   - any other member is refused: tollgate cannot tell what it would mean.
//
// # Anthropic to OpenAI (ToOpenAI)
//
//   - system: a string, or text blocks (one → a string, more → text parts), as a system
//     message first.
//   - messages: a user turn's tool_result blocks become tool messages, first (Anthropic
//     has them first), the rest one user message (a lone text block as a string); text,
//     image (base64 → data URL, url → url; a file source is refused) and document blocks
//     (a base64 PDF → a file part named by its title; plain text or text blocks → text
//     parts, the title first; url and file sources, citations and context are refused).
//     A tool_result's content is a string or text blocks (images in it are refused: OpenAI
//     tool messages carry text only); is_error, which OpenAI has no flag for, is said in
//     the text: "Error: " first. An assistant turn's text blocks become its content and its
//     tool_use blocks tool_calls (input as compact JSON arguments); its thinking and
//     redacted_thinking blocks are not carried (OpenAI takes no reasoning as input, and
//     Anthropic ignores earlier turns' thinking too). Other block types (search_result,
//     server tool blocks) are refused. A final assistant message (a prefill) is refused.
//   - tools: custom tools → function tools (input_schema as parameters, strict kept);
//     cache_control and eager_input_streaming are hints that are not carried; server and
//     client tools (web search, bash, text editor, computer use, code execution, memory…)
//     and other tool fields (input_examples, defer_loading…) are refused.
//   - tool_choice: auto, any → required, tool → a named function, none;
//     disable_parallel_tool_use → parallel_tool_calls false.
//   - temperature (0..1 means the same in OpenAI's 0..2) and top_p as they are; top_k is
//     refused (OpenAI has none); stop_sequences → stop (more than 4 are refused).
//   - max_tokens → max_completion_tokens (the target's cap first).
//   - thinking: enabled with a budget below 2048 → reasoning_effort low, below 4096 →
//     medium, else high (most OpenAI reasoning models take nothing higher); adaptive and
//     disabled ask for no effort in particular and send none, which leaves a reasoning
//     model at its default and lets a non-reasoning model serve. output_config.effort
//     wins over thinking: low, medium, high, xhigh as they are, max → xhigh.
//   - output_config.format (and the beta's output_format), a JSON schema →
//     response_format json_schema named "response", strict.
//   - metadata.user_id → user. service_tier: auto → auto, standard_only → default.
//   - streaming asks for stream_options.include_usage, so that the stream can be metered.
//   - not carried: a top-level cache_control (OpenAI caches prompts by itself),
//     diagnostics, speed. Refused: inference_geo (a data-residency promise OpenAI cannot
//     keep), container, mcp_servers, context_management, and any member not listed here.
//
// # OpenAI Responses to Anthropic (ResponsesToAnthropic)
//
// The Responses API is carried as chat is, with the same decisions where the two share a
// field (images, tools, tool_choice, structured output, reasoning, sampling, user):
//
//   - input: a string is one user message. Items: messages (type "message", or no type
//     with a role) of the system and developer roles join the system prompt, after the
//     instructions; user content parts input_text, input_image (a base64 data URL or an
//     http(s) URL; a file_id is refused) and input_file (a base64 PDF in file_data, or a
//     file_url, as a document titled by its filename; a file_id, another media type and
//     input_audio are refused); assistant content output_text and refusal parts as text.
//     function_call items become tool_use blocks of the assistant turn (call_id as the
//     id, with bytes outside [a-zA-Z0-9_-] replaced by '_' as for chat; arguments parsed,
//     and refused when they are no JSON object), function_call_output items tool_result
//     blocks of the user turn that follows (a string, or input_text, input_image and
//     input_file parts as text, image and document blocks), consecutive ones merged and
//     before any user text. reasoning items are not carried: OpenAI's reasoning, encrypted
//     or summarized, is output that Anthropic cannot read back (it ignores earlier
//     thinking of its own too). An input that ends with an assistant message is refused
//     (a prefill), one that ends with a call without its output is the caller's bad
//     request. Items' id, status and phase identify an earlier answer's items and are not
//     carried; any other member of a message, call or output is refused unless null.
//     item_reference items, and items of other types (hosted tool calls, shell and patch
//     calls, MCP, custom tools, compaction) are refused.
//   - instructions: a string, first in the system prompt.
//   - max_output_tokens → max_tokens (the target's cap first; DefaultMaxTokens when
//     neither sets one). Both bound thinking plus visible output.
//   - tools: function tools (name, description, parameters, strict) as chat's; hosted
//     tools (web_search, file_search, computer use, code interpreter, image generation,
//     MCP, shell, apply_patch…) and custom tools are refused, and so is a function tool's
//     member other than those (defer_loading, output_schema…) unless null. tool_choice:
//     auto, none, required → any, {"type": "function", "name"} → tool; allowed_tools and
//     hosted tool choices are refused. parallel_tool_calls as chat's.
//   - text.format: json_schema (name, schema, strict, description) and json_object by the
//     tool-forcing pattern, as chat's response_format (native output_config.format while
//     thinking); text.verbosity other than medium is refused.
//   - reasoning.effort as chat's reasoning_effort; reasoning.summary asks for what
//     Anthropic's visible thinking is and needs nothing; reasoning.context all_turns
//     (earlier reasoning read back) is refused.
//   - temperature, top_p, user, safety_identifier, service_tier as chat's; top_logprobs
//     (non-zero) is refused.
//   - refused, because their state is stored at OpenAI: previous_response_id,
//     conversation, prompt (a stored template). background (true) is refused: Anthropic
//     has no responses to poll. include values that ask for logprobs are refused; the
//     others (encrypted reasoning, hosted tools' outputs, input image URLs) ask for nothing
//     an Anthropic answer could hold. moderation and a non-empty context_management
//     (compaction) are refused.
//   - truncation: "auto" drops the oldest items of an input that overflows the window,
//     where Anthropic refuses it with a context-length error that a chain falls back on;
//     an input that fits is answered the same either way, so it is accepted.
//   - not carried, because they steer OpenAI's own services and not the answer: store
//     (the translated answer says "store": false, and nothing can continue it by its id),
//     metadata, prompt_cache_key, prompt_cache_retention, prompt_cache_options,
//     stream_options, max_tool_calls (it counts hosted tool calls, which are refused), and
//     the content parts' prompt_cache_breakpoint. Any other member is refused.
//
// Chat Completions ⇄ Responses is not translated: an OpenAI upstream serves each at its
// own endpoint, and no route needs one carried to the other.
//
// # Answers
//
// openai.EncodeResponse writes a chat.completion with the text (content null beside tool
// calls without text), reasoning as reasoning_content (the name OpenAI-compatible servers
// use; OpenAI's SDKs ignore it), tool_calls with JSON-text arguments, finish_reason
// (end_turn and stop_sequence → stop, max_tokens → length, tool_use → tool_calls, refusal
// → content_filter), usage with every prompt token in prompt_tokens (cache reads and
// writes included) and the reads as cached_tokens, a real "created" time, and the
// upstream's id behind "chatcmpl-". anthropic.EncodeResponse writes a message with a
// thinking block (unsigned: only Anthropic can sign its own), a text block and tool_use
// blocks (arguments that are no JSON object are kept as a JSON string, so that nothing is
// lost and the caller's parsing fails as it would have), stop_reason, and usage split back
// into input, cache-read and cache-write tokens. openai.EncodeResponsesResponse and
// openai.ResponsesStreamEncoder write a Responses answer: a reasoning item (the visible
// reasoning as its summary), a message with output_text, function_call items (call_id the
// call's id, arguments its JSON text), status completed or incomplete (max_tokens and
// length → max_output_tokens, refusal and content_filter → content_filter), the usage as
// OpenAI counts it, and the typed stream events in OpenAI's order. The ids of the items
// they write start with rs_tg, msg_tg and fc_tg; a client that sends such a reasoning item
// back to an OpenAI upstream has it dropped (OpenAI refuses reasoning it did not make).
package translate
