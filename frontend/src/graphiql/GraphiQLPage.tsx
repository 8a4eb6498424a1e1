// The page: the upload bar, then GraphiQL on the same-origin endpoint with the headers editor
// open (where `Authorization: Bearer <key>` goes: pre-filled with the dashboard's key when it is
// signed in with one).

import { GraphiQL } from 'graphiql';
import { useMemo, useState } from 'react';
import { createAttachmentStore } from './attachments';
import { createVisionFetcher } from './fetcher';
import { UploadBar } from './UploadBar';
import { authorizationHeader, storedApiKey } from '../auth/storage';

const DEFAULT_QUERY = `# The vision platform's GraphQL API. Ctrl-Enter runs the operation; the Docs
# button (left) shows the schema.
#
# Uploads: attach files in the bar above, then run an operation that declares
# the variable they go to, e.g.
#   mutation Upload($file: Upload!, $label: String) {
#     uploadImage(file: $file, label: $label) { id status }
#   }
#   mutation UploadMany($files: [Upload!]!) {
#     uploadImages(files: $files) { id status }
#   }
#
# Subscriptions go over the WebSocket, e.g.
#   subscription { predictionAdded { imageId model predictedClass confidence } }

{
  health {
    status
  }
  classes
  models {
    name
    version
    kind
  }
}
`;

// Shown in the Headers tab: the API key goes there (JSON with comments).
const DEFAULT_HEADERS = `{
  // "Authorization": "Bearer <key>"
}
`;

/** The Headers tab's text: the dashboard's stored key (same origin), else the hint. */
function initialHeaders(): string {
  const key = storedApiKey();
  return key ? `${JSON.stringify({ Authorization: `Bearer ${key}` }, null, 2)}\n` : DEFAULT_HEADERS;
}

export function GraphiQLPage() {
  const store = useMemo(() => createAttachmentStore(), []);
  const fetcher = useMemo(() => createVisionFetcher(store, () => authorizationHeader(storedApiKey())), [store]);
  // Read once: GraphiQL takes its initial headers when it mounts.
  const [headers] = useState(initialHeaders);
  return (
    <div className="graphiql-page">
      <UploadBar store={store} />
      <div className="graphiql-page-main">
        <GraphiQL
          fetcher={fetcher}
          defaultQuery={DEFAULT_QUERY}
          defaultHeaders={headers}
          initialHeaders={headers}
          defaultEditorToolsVisibility="headers"
          isHeadersEditorEnabled
        >
          <GraphiQL.Logo>vision</GraphiQL.Logo>
        </GraphiQL>
      </div>
    </div>
  );
}
