// GraphQL Code Generator: the TypeScript types of every operation in src/ (the `/* GraphQL */`
// strings of src/graphql/documents.ts), generated from the served schema (../schema.graphql, kept
// equal to the server's by a Rust test) into src/graphql/generated.ts. `npm run codegen` writes
// it; `npm run codegen:check` (run by scripts/test.sh) fails when it is stale.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/graphql/generated.ts'],
  generates: {
    'src/graphql/generated.ts': {
      plugins: ['typescript', 'typescript-operations'],
      config: {
        // Of the schema itself only the enums, inputs and scalars; the result types come from
        // the operations (exactly the fields they select).
        onlyOperationTypes: true,
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: true,
        // A nullable result field is `T | null`, never optional; nullable variables and input
        // fields stay optional.
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        scalars: {
          ID: 'string',
          DateTime: 'string',
          JSON: './scalars#Json',
          Upload: 'File',
        },
      },
    },
  },
};

export default config;
