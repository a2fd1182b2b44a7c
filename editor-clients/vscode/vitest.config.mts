import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Unit tests run without VS Code: `vscode` is a small in-memory fake.
    alias: { vscode: fileURLToPath(new URL('./test/unit/vscode-mock.ts', import.meta.url)) },
  },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    restoreMocks: true,
  },
});
