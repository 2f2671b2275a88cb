'use strict';
// Peer for the fan-out benchmark: a plain broadcast server on npm `ws`, written the way its README's
// "broadcast to every other client" example does it. A client that sends {"type":"subscribe"} becomes a
// subscriber (answered with {"type":"subscribed"}, so the harness waits for it exactly as it does for Clarity);
// any other text frame is a publication, sent as it is to every subscriber but its sender.
//
//   node ws-server.js --port 0      prints "listening <port>" on stdout once it accepts connections
const { WebSocketServer, WebSocket } = require('ws');

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
const subscribers = new Set();

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length < 200 && data.toString().includes('"subscribe"')) {
      subscribers.add(ws);
      ws.send('{"type":"subscribed","topics":["tasks"]}');
      return;
    }
    for (const client of subscribers) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
  ws.on('close', () => subscribers.delete(ws));
  ws.on('error', () => subscribers.delete(ws));
});

wss.on('listening', () => console.log(`listening ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
