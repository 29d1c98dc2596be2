// The few DevTools-protocol calls test/helpers/browser.ts makes, typed here instead of installing
// @types/chrome-remote-interface, whose protocol definitions alone weigh 2.6 MB.
declare module 'chrome-remote-interface' {
  interface Point {
    x: number;
    y: number;
  }
  interface Client {
    Page: {
      enable(): Promise<void>;
      navigate(p: { url: string }): Promise<unknown>;
      loadEventFired(): Promise<unknown>;
      captureScreenshot(p: { format: 'png'; clip: Point & { width: number; height: number; scale: number } }): Promise<{ data: string }>;
    };
    Runtime: {
      enable(): Promise<void>;
      evaluate(p: { expression: string; returnByValue: boolean; awaitPromise: boolean }): Promise<{
        result: { value?: unknown };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      }>;
    };
    Network: {
      enable(): Promise<void>;
      requestWillBeSent(listener: (e: { request: { url: string } }) => void): void;
    };
    Input: {
      dispatchMouseEvent(p: Point & { type: 'mouseMoved' | 'mousePressed' | 'mouseReleased'; button?: 'left'; clickCount?: number }): Promise<void>;
    };
    close(): Promise<void>;
  }
  export default function CDP(options: { host: string; port: number }): Promise<Client>;
}
