// Follows the log live over SSE with fetch (so the token goes in the Authorization header, which
// EventSource cannot send), resuming after the last position received when the connection drops.
import { createParser } from "eventsource-parser";
import { failure, headers, type RecordedEvent } from "./api.ts";

export interface Follow {
  /** Only these event types (comma-separated). */
  types?: string;
  /** Only streams whose id starts with this. */
  streamPrefix?: string;
  /** The last position already had; delivery starts after it. */
  from: number;
  onEvent: (event: RecordedEvent) => void;
  onError?: (message: string) => void;
}

/** Starts following; the returned function stops. Reconnects from the last position seen. */
export function follow(options: Follow): () => void {
  const controller = new AbortController();
  let last = options.from;
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const query = new URLSearchParams({ from: String(last) });
        if (options.types) query.set("types", options.types);
        if (options.streamPrefix) query.set("streamPrefix", options.streamPrefix);
        const response = await fetch(`/v1/subscribe?${query}`, {
          headers: { ...headers(), Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw await failure(response);
        const parser = createParser({
          onEvent: (message) => {
            const event = JSON.parse(message.data) as RecordedEvent;
            last = Math.max(last, event.position);
            options.onEvent(event);
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        options.onError?.(error instanceof Error ? error.message : String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  void run();
  return () => controller.abort();
}
