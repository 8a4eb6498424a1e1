// ESLint (flat config): `npm run lint` (no warning allowed). TypeScript with typescript-eslint's
// type-aware recommended rules, React's hooks rules (including the React Compiler's checks) and
// Fast Refresh's export rule; the end-to-end tests and this file as plain Node ES modules.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import reactRefresh from 'eslint-plugin-react-refresh';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
  // The build, the screenshots, the dependencies and the generated GraphQL types.
  globalIgnores(['dist/', 'test-artifacts/', 'node_modules/', 'src/graphql/generated.ts']),
  {
    files: ['**/*.{ts,tsx}'],
    extends: [
      js.configs.recommended,
      tseslint.configs.recommendedTypeChecked,
      reactHooks.configs.flat['recommended-latest'],
      reactRefresh.configs.vite,
    ],
    languageOptions: {
      ecmaVersion: 2022,
      globals: globals.browser,
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    // Build configuration, run by Node.
    files: ['vite.config.ts', 'codegen.ts'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
    },
  },
]);
