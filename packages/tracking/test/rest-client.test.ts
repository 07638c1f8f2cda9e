import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidParameterError, MlflowRestStore, NotFoundError, TrackerUnavailableError } from '../src/index.js';

type Reply = (req: IncomingMessage, res: ServerResponse, body: string) => void;
const servers: { close(): void; closeAllConnections(): void }[] = [];

async function serve(replies: Reply[]): Promise<{ url: string; requests: { method: string; url: string; body: string; at: number }[] }> {
  const requests: { method: string; url: string; body: string; at: number }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    requests.push({ method: req.method!, url: req.url!, body, at: Date.now() });
    (replies[requests.length - 1] ?? replies[replies.length - 1]!)(req, res, body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

const json = (status: number, body: object | string): Reply => (_req, res) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const hang: Reply = () => undefined;
const fast = { retries: 3, baseDelayMs: 20, maxDelayMs: 100, timeoutMs: 200 };

describe('MlflowRestStore retries', () => {
  it('retries 503s with growing delays, then succeeds', async () => {
    const { url, requests } = await serve([json(503, 'busy'), json(503, 'busy'), json(200, { experiment_id: '7' })]);
    const store = new MlflowRestStore(url, { retry: fast });
    expect(await store.createExperiment('e')).toBe('7');
    expect(requests).toHaveLength(3);
    expect(JSON.parse(requests[0]!.body)).toEqual({ name: 'e', tags: [] });
    expect(requests[0]!.url).toBe('/api/2.0/mlflow/experiments/create');
    // Backoff with ±50% jitter: the 1st retry waits ≥ 10 ms, the 2nd ≥ 20 ms.
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(9);
    expect(requests[2]!.at - requests[1]!.at).toBeGreaterThanOrEqual(19);
  });

  it('gives up after the retries with TrackerUnavailableError on a hanging server', async () => {
    const { url, requests } = await serve([hang]);
    const store = new MlflowRestStore(url, { retry: { ...fast, retries: 2 } });
    const started = Date.now();
    const err = await store.getRun('a'.repeat(32)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrackerUnavailableError);
    expect((err as Error).message).toMatch(/failed 3 times; last problem: no answer within 200 ms/);
    expect(requests).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 200);
  });

  it('reports a refused connection as unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const store = new MlflowRestStore(`http://127.0.0.1:${port}`, { retry: { ...fast, retries: 1 } });
    await expect(store.getExperiment('1')).rejects.toThrow(/unavailable: .*failed 2 times; last problem: ECONNREFUSED/);
  });

  it('does not retry MLflow errors and maps their error codes to typed errors', async () => {
    const { url, requests } = await serve([
      json(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'bad lr' }),
      json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such experiment' }),
    ]);
    const store = new MlflowRestStore(url, { retry: fast });
    await expect(store.logBatch('a'.repeat(32), { params: { lr: 'x' } })).rejects.toThrow(InvalidParameterError);
    expect(await store.getExperimentByName('x')).toBeUndefined();
    expect(requests.map((r) => r.url)).toEqual(['/api/2.0/mlflow/runs/log-batch', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=x']);
  });

  it('parses NaN in responses and int64 fields sent as strings', async () => {
    const body = '{"metrics":[{"key":"l","value":NaN,"timestamp":"17","step":"3"}]}';
    const { url } = await serve([json(200, body)]);
    const store = new MlflowRestStore(url, { retry: fast });
    const [m] = await store.getMetricHistory('a'.repeat(32), 'l');
    expect(m!.value).toBeNaN();
    expect([m!.timestamp, m!.step]).toEqual([17, 3]);
  });

  it('rejects a non-http URI', () => {
    expect(() => new MlflowRestStore('ftp://x')).toThrow(/must be an http\(s\) URL/);
  });

  it('a NotFoundError from the server stays a NotFoundError', async () => {
    const { url } = await serve([json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run x not found' })]);
    await expect(new MlflowRestStore(url, { retry: fast }).getRun('b'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);
  });
});
