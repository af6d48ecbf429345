import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputError, writeFileAtomic, writeFilesAtomic } from '../../common/fs.js';

describe('atomic writes', () => {
  it('writes a file atomically and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-fs-'));
    await writeFileAtomic(join(dir, 'a', 'x.json'), '{"a":1}');
    expect(readFileSync(join(dir, 'a', 'x.json'), 'utf8')).toBe('{"a":1}');
    expect(readdirSync(join(dir, 'a'))).toEqual(['x.json']);
  });

  it('writes a pair as one unit: when the second cannot be written, neither target changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-fs-'));
    writeFileSync(join(dir, 'artifact.json'), 'old artifact');
    writeFileSync(join(dir, 'receipts'), 'a file where the receipt directory should be');
    const err = await writeFilesAtomic([
      { path: join(dir, 'artifact.json'), data: 'new artifact' },
      { path: join(dir, 'receipts', 'receipt.json'), data: 'new receipt' },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect((err as OutputError).code).toBe('OUTPUT_WRITE_FAILED');
    expect((err as OutputError).exitCode).toBe(3);
    expect((err as OutputError).message).toContain('receipt.json');
    expect(readFileSync(join(dir, 'artifact.json'), 'utf8')).toBe('old artifact');
    expect(readdirSync(dir).sort()).toEqual(['artifact.json', 'receipts']);
  });

  it('names the file when even the rename fails (target is a directory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-fs-'));
    mkdirSync(join(dir, 'taken'));
    await expect(writeFilesAtomic([{ path: join(dir, 'taken'), data: 'x' }])).rejects.toMatchObject({
      code: 'OUTPUT_WRITE_FAILED',
      message: expect.stringContaining('taken'),
    });
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('replaces both files when both can be written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-fs-'));
    writeFileSync(join(dir, 'a'), 'old a');
    await writeFilesAtomic([
      { path: join(dir, 'a'), data: 'new a' },
      { path: join(dir, 'b'), data: new Uint8Array([1, 2]) },
    ]);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('new a');
    expect([...readFileSync(join(dir, 'b'))]).toEqual([1, 2]);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });
});
