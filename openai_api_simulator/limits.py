"""Every cap the fake model puts on one request: the numbers docs/fake-model.md ("Limits") and the tests read.

A request over a cap is refused before the work is done, with a 400 in OpenAI's shape naming the parameter
and the cap. Where OpenAI has a limit of its own (``n``, ``tools``, ``stop``, ``top_logprobs``, embeddings) the
cap is OpenAI's, so a client sees the same refusal it would get from the real API; the others bound the
simulator's own work so that no answer of gpt-sim-1 takes more than about a second of CPU on a laptop
(measured costs in the comments), and `WORK_DEADLINE_S` catches whatever the counts miss.
"""

from __future__ import annotations

from typing import Final

# ---- sampling and framing (chat, completions, responses) -------------------------------------------------
MAX_N: Final = 128  # OpenAI's limit on `n`
# `max_tokens`, `max_completion_tokens`, `max_output_tokens`: the largest output any OpenAI model allows
# (gpt-5's 128,000). The fake's answers are far shorter; the cap makes a typo an error, as it is upstream.
MAX_OUTPUT_TOKENS: Final = 128_000
MAX_TOP_LOGPROBS: Final = 20  # OpenAI's limit (chat `top_logprobs`; the completions `logprobs` limit is 5)
MAX_COMPLETION_LOGPROBS: Final = 5
MAX_STOP: Final = 4  # OpenAI's limit on `stop` sequences
MAX_TOOLS: Final = 128  # OpenAI's limit on `tools`
# Legacy completions: prompts in one request, and choices (prompts × n). A choice costs about 0.25 ms to
# generate, so the most choices cost half a second.
MAX_PROMPTS: Final = 2048
MAX_CHOICES: Final = 2048
# Content tokens of one answer, summed over its choices: what is encoded (and streamed, one event each).
MAX_ANSWER_TOKENS: Final = 131_072
# Log-probabilities of one answer: a token's own and each of its alternatives count one (about 1 µs and
# 60 bytes each), so `n` × tokens × (1 + top_logprobs) is at most this.
MAX_LOGPROBS: Final = 131_072
# Characters of text input in one request (messages, prompt, input): tokenizing costs about 60 ns a
# character. 4 Mi characters is about a million tokens, the largest context an OpenAI model has.
MAX_INPUT_CHARS: Final = 4 * 1024 * 1024

# ---- embeddings ------------------------------------------------------------------------------------------
MAX_EMBEDDING_INPUTS: Final = 2048  # OpenAI's limit on inputs per request
MAX_EMBEDDING_INPUT_TOKENS: Final = 8192  # OpenAI's limit per input
MAX_EMBEDDING_TOKENS: Final = 300_000  # OpenAI's limit summed over a request's inputs
MAX_DIMENSIONS: Final = 3072  # text-embedding-3-large's size
# Words × dimensions in one request: every word adds one pseudo-random vector (25 ns a component, 125 ns
# for a word not seen before), so this is at most half a second: 2,730 words at 1536 dimensions, 16,384 at 256.
MAX_EMBEDDING_WORK: Final = 4 * 1024 * 1024

# ---- JSON schemas (tool parameters, structured outputs), per request -------------------------------------
# Subschemas (and enum/const entries) read by the structure checks, over all the request's schemas.
MAX_SCHEMA_NODES: Final = 20_000
MAX_SCHEMA_DEPTH: Final = 64  # subschemas nested in one another (OpenAI's structured outputs allow 10)
# Subschemas one value is checked against once $ref, allOf, anyOf, oneOf, not and if/then/else are expanded:
# a chain of allOf-of-two-$refs doubles it at every level, and the validator walks every one of them.
MAX_SCHEMA_EXPANSION: Final = 1_000
# Generation steps over all the request's schemas (the check of each schema's trial value included): values
# drawn and $ref/allOf merges. A step costs about 20 µs, validation included, so this is under half a second.
MAX_SCHEMA_STEPS: Final = 20_000
# Characters of generated strings over the whole request, the one value generated to check each schema
# included, and the longest string generated (so the largest minLength accepted).
MAX_GENERATED_CHARS: Final = 200_000
MAX_STRING_CHARS: Final = 50_000
MAX_SCHEMA_COUNT: Final = 10_000  # the largest minItems, minProperties and minContains accepted
# Regular expressions (`pattern`, `patternProperties`): their length, and the size of the automaton a
# pattern compiles to once counted repeats are expanded (a{1000} is 1000 states).
MAX_PATTERN_CHARS: Final = 1_000
MAX_PATTERN_NESTING: Final = 100  # groups within groups: parsing them recurses, in `re` too
MAX_PATTERN_STATES: Final = 10_000
# A pattern is matched by Python's `re` only where its worst case (backtracking) is at most this many steps
# for the string at hand, else by a linear-time automaton, whose work (characters × states) is capped too.
MAX_BACKTRACKING_STEPS: Final = 100_000
MAX_AUTOMATON_STEPS: Final = 2_000_000

# ---- fault injection (X-Simulator-* headers) ---------------------------------------------------------------
MAX_LATENCY_MS: Final = 600_000  # X-Simulator-Latency-Ms: ten minutes
# X-Simulator-Tokens-Per-Second is 0 (no pacing) or at least this: at 1e-9 one token would wait 30 years.
MIN_TOKENS_PER_SECOND: Final = 1.0
MAX_TOKENS_PER_SECOND: Final = 1_000_000
# However slow the pace, one answer's pacing (a stream's, or a non-stream answer's wait) ends after the
# longest latency the header allows.
MAX_PACING_S: Final = MAX_LATENCY_MS / 1000

# ---- time ------------------------------------------------------------------------------------------------
# The last line of defence: work still running after this long (waiting for a worker included) is
# refused. The counts above keep ordinary requests far below it, under load too.
WORK_DEADLINE_S: Final = 3.0
