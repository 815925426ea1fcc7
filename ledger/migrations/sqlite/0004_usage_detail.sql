-- Usage detail: the prompt-cache writes (cache_write_tokens, all of them, counted in
-- input_tokens as cache reads are; cache_write_1h_tokens, those of them with the 1-hour
-- TTL), which cost more than input, and the reasoning tokens of the output (counted in
-- output_tokens, billed as output). Rows written before this version read as none.
ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
