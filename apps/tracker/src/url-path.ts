import { TrackingError } from '@difflab/tracking';

/**
 * The '/'-separated segments of a URL path, each percent-decoded. A malformed escape (`%E0%A4%A`,
 * a lone `%`) is the client's error: 400 BAD_REQUEST naming the segment, never a 500.
 */
export function decodePathSegments(path: string): string[] {
  return path
    .split('/')
    .filter(Boolean)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new TrackingError(`malformed percent-escape in the URL path segment '${segment}': write '%' as %25 and escape UTF-8 bytes as complete %XX sequences`, 'BAD_REQUEST');
      }
    });
}
