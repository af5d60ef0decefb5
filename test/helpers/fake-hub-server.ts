/**
 * A local stand-in for the Hugging Face Hub on 127.0.0.1, answering the subset of its HTTP API
 * that @huggingface/hub uses to download and upload: model info, tree listing, paths-info,
 * resolve (with ranges), whoami, repo creation, preupload, the LFS batch API with basic transfer,
 * and the ndjson commit endpoint. Faults (status codes, dropped connections, silence, slow bodies)
 * can be injected per route.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface FakeHubFile {
  path: string;
  content: Uint8Array;
  /** Stored with Git LFS (sha256 etag). Default: `.safetensors`/`.bin` files and files of 10 MB or more. */
  lfs?: boolean;
}

export type FakeHubFaultAction =
  | { status: number; json?: unknown; headers?: Record<string, string> }
  /** Sends the headers and half of the body, then destroys the socket. */
  | 'drop-mid-body'
  /** Sends the headers and half of the body, then keeps the connection open without sending more. */
  | 'stall-mid-body'
  /** Accepts the request and never answers. */
  | 'hang'
  /** Answers normally but sends the body in small chunks with pauses. */
  | 'slow-body';

export interface FakeHubFault {
  method?: string;
  path: RegExp;
  action: FakeHubFaultAction;
  /** Only requests with (true) or without (false) a Range header; default both. */
  withRange?: boolean;
  /** How many requests it applies to; default 1. */
  times?: number;
}

export interface FakeHubRequest {
  method: string;
  path: string;
  authorization?: string;
  range?: string;
}

interface StoredFile {
  content: Buffer;
  lfs: boolean;
  oid: string;
  sha256: string;
}

interface Commit {
  id: string;
  title: string;
  date: string;
  files: Map<string, StoredFile>;
}

export interface FakeHubRepo {
  private: boolean;
  branches: Map<string, string>;
  commits: Map<string, Commit>;
}

const LFS_MIN_BYTES = 10 * 1024 * 1024;
const SLOW_CHUNK_BYTES = 64 * 1024;
const SLOW_CHUNK_PAUSE_MS = 20;

export function gitBlobOid(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

export function sha256Hex(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export class FakeHub {
  readonly requests: FakeHubRequest[] = [];
  readonly repos = new Map<string, FakeHubRepo>();
  private readonly faults: Array<FakeHubFault & { remaining: number }> = [];
  private readonly lfsObjects = new Map<string, Buffer>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** The one token this Hub accepts; write calls and private repos need it. */
    readonly token: string,
    readonly user: string,
  ) {}

  static async start(options: { token?: string; user?: string } = {}): Promise<FakeHub> {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const hub = new FakeHub(server, `http://127.0.0.1:${address.port}`, options.token ?? 'hf_fakeHubToken', options.user ?? 'tester');
    server.on('connection', (socket) => {
      hub.sockets.add(socket);
      socket.on('close', () => hub.sockets.delete(socket));
    });
    server.on('request', (request, response) => {
      hub.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, { error: String(error) });
        else response.destroy();
      });
    });
    return hub;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  /** Adds a model with one commit on `main`; returns the commit id. */
  addModel(repo: string, files: FakeHubFile[], options: { private?: boolean; commit?: string } = {}): string {
    const model: FakeHubRepo = { private: options.private ?? false, branches: new Map(), commits: new Map() };
    this.repos.set(repo, model);
    return this.commit(model, 'initial commit', new Map(files.map((file) => [file.path, storeFile(file)])), options.commit);
  }

  fault(fault: FakeHubFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /** The files on `main` of a repo, by path. */
  headFiles(repo: string): Map<string, Buffer> {
    const model = this.repos.get(repo);
    const head = model && model.commits.get(model.branches.get('main') ?? '');
    return new Map([...(head?.files ?? new Map<string, StoredFile>())].map(([path, file]) => [path, file.content]));
  }

  headCommit(repo: string): string | undefined {
    return this.repos.get(repo)?.branches.get('main');
  }

  private commit(model: FakeHubRepo, title: string, files: Map<string, StoredFile>, id = randomBytes(20).toString('hex')): string {
    model.commits.set(id, { id, title, date: new Date().toISOString(), files });
    model.branches.set('main', id);
    return id;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    const path = decodeURIComponent(url.pathname);
    const method = request.method ?? 'GET';
    this.requests.push({ method, path, authorization: request.headers.authorization, range: request.headers.range });

    const fault = this.faults.find((f) => f.remaining > 0 && f.path.test(path) && (f.method === undefined || f.method === method)
      && (f.withRange === undefined || f.withRange === (request.headers.range !== undefined)));
    let slow = false;
    if (fault !== undefined) {
      fault.remaining -= 1;
      if (fault.action === 'hang') return;
      if (fault.action === 'slow-body') slow = true;
      else if (fault.action !== 'drop-mid-body' && fault.action !== 'stall-mid-body') {
        sendJson(response, fault.action.status, fault.action.json ?? { error: `injected ${fault.action.status}` }, fault.action.headers);
        return;
      }
    }
    const dropMidBody = fault?.action === 'drop-mid-body';
    const stallMidBody = fault?.action === 'stall-mid-body';

    const authorization = request.headers.authorization;
    if (authorization !== undefined && authorization !== `Bearer ${this.token}`) {
      sendJson(response, 401, { error: 'Invalid credentials in Authorization header' });
      return;
    }
    const authenticated = authorization !== undefined;
    let match: RegExpMatchArray | null;

    if (method === 'GET' && path === '/api/whoami-v2') {
      if (!authenticated) return sendJson(response, 401, { error: 'Invalid credentials in Authorization header' });
      return sendJson(response, 200, {
        type: 'user', id: 'u-1', name: this.user, fullname: 'Test User', email: 'test@example.com', emailVerified: true,
        isPro: false, orgs: [], canPay: false, avatarUrl: '', auth: { type: 'access_token', accessToken: { displayName: 'tests', role: 'write' } },
      });
    }
    if (method === 'POST' && path === '/api/repos/create') {
      if (!authenticated) return sendJson(response, 401, { error: 'Invalid credentials in Authorization header' });
      const body = JSON.parse((await readBody(request)).toString('utf8')) as { name: string; organization?: string; visibility?: string };
      const repo = `${body.organization ?? this.user}/${body.name}`;
      if (body.organization !== undefined && body.organization !== this.user) {
        return sendJson(response, 403, { error: `You don't have the rights to create a model under the namespace "${body.organization}"` });
      }
      if (this.repos.has(repo)) return sendJson(response, 409, { error: 'You already created this model repo', url: `${this.url}/${repo}` });
      const model: FakeHubRepo = { private: body.visibility === 'private', branches: new Map(), commits: new Map() };
      this.repos.set(repo, model);
      this.commit(model, 'initial commit', new Map([['.gitattributes', storeFile({ path: '.gitattributes', content: Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n') })]]));
      return sendJson(response, 200, { url: `${this.url}/${repo}`, name: repo, id: `id-${repo}` });
    }
    if ((match = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path)) && method === 'GET') {
      const found = this.lookup(response, match[1]!, match[2]!, authenticated);
      if (found === undefined) return;
      return sendJson(response, 200, {
        _id: `id-${match[1]}`, id: match[1], private: found.model.private, sha: found.commit.id, lastModified: found.commit.date,
        downloads: 0, likes: 0, gated: false, pipeline_tag: 'text-generation',
        siblings: [...found.commit.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if ((match = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path)) && method === 'GET') {
      const found = this.lookup(response, match[1]!, match[2]!, authenticated);
      if (found === undefined) return;
      const recursive = url.searchParams.get('recursive') === 'true';
      const prefix = match[3] ? `${match[3]}/` : '';
      const entries = new Map<string, unknown>();
      for (const [filePath, file] of found.commit.files) {
        if (!filePath.startsWith(prefix)) continue;
        const rest = filePath.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (slash !== -1 && !recursive) {
          entries.set(prefix + rest.slice(0, slash), { type: 'directory', oid: '0'.repeat(40), size: 0, path: prefix + rest.slice(0, slash) });
        } else {
          entries.set(filePath, treeEntry(filePath, file));
        }
      }
      return sendJson(response, 200, [...entries.values()]);
    }
    if ((match = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/(.+)$/.exec(path)) && method === 'POST') {
      const found = this.lookup(response, match[1]!, match[2]!, authenticated);
      if (found === undefined) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as { paths: string[]; expand?: boolean };
      const entries = body.paths.flatMap((p) => {
        const file = found.commit.files.get(p);
        if (file === undefined) return [];
        return [{ ...treeEntry(p, file), ...(body.expand ? { lastCommit: { id: found.commit.id, title: found.commit.title, date: found.commit.date } } : {}) }];
      });
      return sendJson(response, 200, entries);
    }
    if ((match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path)) && (method === 'GET' || method === 'HEAD')) {
      const found = this.lookup(response, match[1]!, match[2]!, authenticated);
      if (found === undefined) return;
      const file = found.commit.files.get(match[3]!);
      if (file === undefined) return sendJson(response, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      return sendFile(response, method, request.headers.range, file, found.commit.id, { dropMidBody, stallMidBody, slow });
    }
    if ((match = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/(.+)$/.exec(path)) && method === 'POST') {
      if (this.writable(response, match[1]!, authenticated) === undefined) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as { files: Array<{ path: string; size: number }> };
      return sendJson(response, 200, {
        files: body.files.map((file) => ({ path: file.path, uploadMode: isLfsPath(file.path, file.size) ? 'lfs' : 'regular', shouldIgnore: false })),
      });
    }
    if ((match = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path)) && method === 'POST') {
      if (this.writable(response, match[1]!, authenticated) === undefined) return;
      const body = JSON.parse((await readBody(request)).toString('utf8')) as { objects: Array<{ oid: string; size: number }> };
      return sendJson(response, 200, {
        transfer: 'basic',
        objects: body.objects.map((object) => ({
          oid: object.oid, size: object.size, authenticated: true,
          ...(this.lfsObjects.has(object.oid) ? {} : { actions: { upload: { href: `${this.url}/__lfs-upload/${object.oid}` } } }),
        })),
      }, { 'Content-Type': 'application/vnd.git-lfs+json' });
    }
    if ((match = /^\/__lfs-upload\/([0-9a-f]{64})$/.exec(path)) && method === 'PUT') {
      const content = await readBody(request);
      if (sha256Hex(content) !== match[1]) return sendJson(response, 400, { error: 'sha256 mismatch' });
      this.lfsObjects.set(match[1]!, content);
      response.writeHead(200, { ETag: `"${match[1]}"` }).end();
      return;
    }
    if ((match = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/(.+)$/.exec(path)) && method === 'POST') {
      const model = this.writable(response, match[1]!, authenticated);
      if (model === undefined) return;
      const head = model.commits.get(model.branches.get(match[2]!) ?? '');
      const files = new Map(head?.files ?? []);
      let title = '';
      for (const line of (await readBody(request)).toString('utf8').split('\n').filter(Boolean)) {
        const operation = JSON.parse(line) as { key: string; value: Record<string, unknown> };
        const value = operation.value;
        if (operation.key === 'header') title = String(value['summary'] ?? '');
        else if (operation.key === 'file') {
          const content = Buffer.from(String(value['content']), value['encoding'] === 'base64' ? 'base64' : 'utf8');
          files.set(String(value['path']), storeFile({ path: String(value['path']), content, lfs: false }));
        } else if (operation.key === 'lfsFile') {
          const content = this.lfsObjects.get(String(value['oid']));
          if (content === undefined) return sendJson(response, 422, { error: `LFS object ${String(value['oid'])} was never uploaded` });
          files.set(String(value['path']), storeFile({ path: String(value['path']), content, lfs: true }));
        } else if (operation.key === 'deletedFile') files.delete(String(value['path']));
      }
      const id = this.commit(model, title, files);
      return sendJson(response, 200, { success: true, commitOid: id, commitUrl: `${this.url}/${match[1]}/commit/${id}`, hookOutput: '' });
    }
    sendJson(response, 404, { error: `fake hub: no route for ${method} ${path}` });
  }

  private lookup(response: ServerResponse, repo: string, revision: string, authenticated: boolean):
    { model: FakeHubRepo; commit: Commit } | undefined {
    const model = this.repos.get(repo);
    if (model === undefined || (model.private && !authenticated)) {
      // Like the Hub: an unknown repo and a private one seen anonymously look the same.
      sendJson(response, authenticated ? 404 : 401, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return undefined;
    }
    const commitId = model.branches.get(revision) ?? revision;
    const commit = model.commits.get(commitId);
    if (commit === undefined) {
      sendJson(response, 404, { error: `Invalid rev id: ${revision}` }, { 'X-Error-Code': 'RevisionNotFound' });
      return undefined;
    }
    return { model, commit };
  }

  private writable(response: ServerResponse, repo: string, authenticated: boolean): FakeHubRepo | undefined {
    const model = this.repos.get(repo);
    if (!authenticated) {
      sendJson(response, 401, { error: 'Invalid credentials in Authorization header' });
      return undefined;
    }
    if (model === undefined) {
      sendJson(response, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return undefined;
    }
    return model;
  }
}

function isLfsPath(path: string, size: number): boolean {
  return /\.(safetensors|bin)$/.test(path) || size >= LFS_MIN_BYTES;
}

function storeFile(file: FakeHubFile): StoredFile {
  const content = Buffer.from(file.content);
  return { content, lfs: file.lfs ?? isLfsPath(file.path, content.byteLength), oid: gitBlobOid(content), sha256: sha256Hex(content) };
}

function treeEntry(path: string, file: StoredFile): Record<string, unknown> {
  return {
    type: 'file', oid: file.oid, size: file.content.byteLength, path,
    ...(file.lfs ? { lfs: { oid: file.sha256, size: file.content.byteLength, pointerSize: 134 } } : {}),
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(bytes.byteLength), ...headers });
  response.end(bytes);
}

function sendFile(
  response: ServerResponse, method: string, range: string | undefined, file: StoredFile, commit: string,
  behaviour: { dropMidBody: boolean; stallMidBody: boolean; slow: boolean },
): void {
  const total = file.content.byteLength;
  const etag = file.lfs ? file.sha256 : file.oid;
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${etag}"`, 'X-Repo-Commit': commit,
    ...(file.lfs ? { 'X-Linked-Etag': `"${file.sha256}"`, 'X-Linked-Size': String(total) } : {}),
  };
  let start = 0;
  let end = total - 1;
  let status = 200;
  const parsed = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
  if (parsed) {
    start = Number(parsed[1]);
    end = parsed[2] ? Math.min(Number(parsed[2]), total - 1) : total - 1;
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${total}`;
  }
  const body = file.content.subarray(start, end + 1);
  headers['Content-Length'] = String(body.byteLength);
  response.writeHead(status, headers);
  if (method === 'HEAD') {
    response.end();
  } else if (behaviour.dropMidBody) {
    response.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => response.destroy());
  } else if (behaviour.stallMidBody) {
    response.write(body.subarray(0, Math.floor(body.byteLength / 2)));
  } else if (behaviour.slow) {
    let offset = 0;
    const sendNext = () => {
      if (response.destroyed) return;
      if (offset >= body.byteLength) {
        response.end();
        return;
      }
      response.write(body.subarray(offset, offset + SLOW_CHUNK_BYTES));
      offset += SLOW_CHUNK_BYTES;
      setTimeout(sendNext, SLOW_CHUNK_PAUSE_MS);
    };
    sendNext();
  } else {
    response.end(body);
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
