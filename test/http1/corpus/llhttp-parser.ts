/**
 * Node's own HTTP/1 parser (llhttp), as node:http runs it (strict): the parser a Node backend frames with,
 * for the corpus test and the framing harness (bench/framing.ts). It is an internal binding with no types;
 * this is the one place that reaches for it.
 */
// biome-ignore lint/suspicious/noExplicitAny: an internal binding with no types
export const { HTTPParser } = (process as any).binding('http_parser') as { HTTPParser: any };
