// Smoke run of Stripe's official Node SDK against the emulator, so the wire
// format is not tied to stripe-python. Usage:
//   NODE_PATH=<dir with node_modules> node node_smoke.cjs http://127.0.0.1:PORT
'use strict';
const http = require('http');
const assert = require('assert');
const StripeLib = require('stripe');
const Stripe = StripeLib.default || StripeLib;

async function main() {
  const base = new URL(process.argv[2]);
  const stripe = new Stripe('sk_test_node_smoke', {
    host: base.hostname,
    port: Number(base.port),
    protocol: 'http',
    apiVersion: '2026-05-27.dahlia',
    maxNetworkRetries: 2,
  });

  const product = await stripe.products.create({name: 'Node plan'});
  const price = await stripe.prices.create({
    product: product.id, currency: 'usd', unit_amount: 900,
    recurring: {interval: 'month'}, lookup_key: 'node_monthly',
  });
  assert.strictEqual(price.recurring.interval, 'month');
  const byKey = await stripe.prices.list({lookup_keys: ['node_monthly'], expand: ['data.product']});
  assert.strictEqual(byKey.data[0].product.name, 'Node plan');

  const cus = await stripe.customers.create(
    {email: 'node@example.com', metadata: {a: '1', b: '2'}}, {idempotencyKey: 'node-key-1'});
  const replay = await stripe.customers.create(
    {email: 'node@example.com', metadata: {a: '1', b: '2'}}, {idempotencyKey: 'node-key-1'});
  assert.strictEqual(replay.id, cus.id);
  const updated = await stripe.customers.update(cus.id, {metadata: {a: ''}});
  assert.deepStrictEqual(updated.metadata, {b: '2'});

  const pm = await stripe.paymentMethods.attach('pm_card_visa', {customer: cus.id});
  assert.strictEqual(pm.card.last4, '4242');
  const found = await stripe.customers.search({query: "email:'node@example.com'"});
  assert.strictEqual(found.data[0].id, cus.id);

  for (let i = 0; i < 3; i++) await stripe.customers.create({name: `n${i}`});
  const all = await stripe.customers.list({limit: 2}).autoPagingToArray({limit: 100});
  assert.strictEqual(all.length, 4);

  await assert.rejects(stripe.customers.create({colour: 'red'}), (err) => {
    assert.strictEqual(err.type, 'StripeInvalidRequestError');
    assert.strictEqual(err.param, 'colour');
    return true;
  });
  await assert.rejects(stripe.customers.retrieve('cus_missing'), (err) => {
    assert.strictEqual(err.statusCode, 404);
    assert.strictEqual(err.code, 'resource_missing');
    return true;
  });
  await assert.rejects(
    stripe.paymentMethods.attach('pm_card_visa_chargeDeclined', {customer: cus.id}),
    (err) => {
      assert.strictEqual(err.type, 'StripeCardError');
      assert.strictEqual(err.decline_code, 'generic_decline');
      return true;
    });

  // Webhook delivery verified with the Node SDK's own signature check.
  let endpoint;
  const verified = new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200).end('ok');
        try {
          const event = stripe.webhooks.constructEvent(
            Buffer.concat(chunks), req.headers['stripe-signature'], endpoint.secret);
          server.close();
          resolve(event);
        } catch (e) { server.close(); reject(e); }
      });
    });
    server.listen(0, '127.0.0.1', async () => {
      endpoint = await stripe.webhookEndpoints.create({
        url: `http://127.0.0.1:${server.address().port}/hook`,
        enabled_events: ['customer.created'],
      });
      await stripe.customers.create({email: 'hook@example.com'});
    });
  });
  const event = await verified;
  assert.strictEqual(event.type, 'customer.created');
  assert.strictEqual(event.data.object.email, 'hook@example.com');
  console.log(JSON.stringify({ok: true, checks: 14}));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
