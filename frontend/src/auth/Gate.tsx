// The app behind the session: the sign-in screen (and friends) until `me` answers, then the
// dashboard on the session's connection, mounted afresh for every new connection (a new key
// never sees what the previous one loaded).

import { Provider } from 'urql';
import { App } from '../App';
import { useSession } from './session';
import { SessionScreen } from './SignIn';

export function Gate() {
  const session = useSession();
  if (session.status !== 'signedIn') return <SessionScreen session={session} />;
  return (
    <Provider key={session.generation} value={session.connection.client}>
      <App />
    </Provider>
  );
}
