import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Gate } from './auth/Gate';
import './styles.css';
import './auth/auth.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Gate />
  </StrictMode>,
);
