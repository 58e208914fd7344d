import { ResponseReader } from '../http1/response-reader.js';

/**
 * The load generator's response reader: the shared HTTP/1.1 framing (src/http1/response-reader.ts) plus
 * the little a load generator keeps, the status and X-Timbang-Backend, and the body only when asked (or
 * when there is no X-Timbang-Backend header, so the backend is read from the worker's JSON).
 */
export class ResponseParser extends ResponseReader {
  /** X-Timbang-Backend, if the response has one. */
  backend: string | undefined = undefined;
  /** Body bytes, kept when `keepBody` or when there is no X-Timbang-Backend header. */
  readonly body: Buffer[] = [];

  constructor(private readonly keepBody: boolean) {
    super();
  }

  override reset(): void {
    super.reset();
    this.backend = undefined;
    this.body.length = 0;
  }

  protected onHeader(lower: string, value: string): void {
    if (lower === 'x-timbang-backend') this.backend = value;
  }

  protected onHeadEnd(): void {}

  protected onBody(data: Buffer, start: number, end: number): void {
    if (this.keepBody || this.backend === undefined) this.body.push(data.subarray(start, end));
  }
}
