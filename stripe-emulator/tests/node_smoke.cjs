// Smoke run of Stripe's official Node SDK against the emulator, so the wire
// format is not tied to stripe-python. Usage:
//   NODE_PATH=<dir with node_modules> node node_smoke.cjs http://127.0.0.1:PORT
// Then the subscription lifecycle of sdk_lifecycle.py with a client that sets
// no apiVersion (the SDK sends its own pin); its results are printed as JSON
// for test_node_sdk.py to check with test_sdk_lifecycle.assert_lifecycle.
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
  const lifecycle = await runLifecycle(base);
  console.log(JSON.stringify({ok: true, checks: 14, lifecycle}));
}

const T0 = 1767225600; // 2026-01-01T00:00:00Z, as in sdk_lifecycle.py
const DAY = 86400;
const HOUR = 3600;

function invoiceSummary(invoice) {
  return {
    status: invoice.status,
    total: invoice.total,
    amount_paid: invoice.amount_paid,
    billing_reason: invoice.billing_reason,
    lines: invoice.lines.data.map((line) => line.amount).sort((a, b) => a - b),
  };
}

// The same steps as sdk_lifecycle.py, with the same result keys.
async function runLifecycle(base) {
  const stripe = new Stripe('sk_test_node_lifecycle', {
    host: base.hostname,
    port: Number(base.port),
    protocol: 'http',
    maxNetworkRetries: 2,
  });
  const versions = {};
  let calls = 0;
  const seen = async (promise) => {
    const obj = await promise;
    const version = obj.lastResponse.headers['stripe-version'] || '';
    versions[version] = (versions[version] || 0) + 1;
    calls += 1;
    return obj;
  };
  const advance = async (clockId, to) => {
    await seen(stripe.testHelpers.testClocks.advance(clockId, {frozen_time: to}));
    for (let i = 0; i < 100; i++) {
      const clock = await seen(stripe.testHelpers.testClocks.retrieve(clockId));
      if (clock.status === 'ready') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`test clock ${clockId} not ready`);
  };
  const out = {sdk: Stripe.PACKAGE_VERSION, sdk_api_version: Stripe.API_VERSION};

  const clock = await seen(stripe.testHelpers.testClocks.create({frozen_time: T0}));
  const customer = await seen(
    stripe.customers.create({email: 'lifecycle@example.com', test_clock: clock.id}));
  let card = await seen(stripe.paymentMethods.create({type: 'card', card: {token: 'tok_visa'}}));
  card = await seen(stripe.paymentMethods.attach(card.id, {customer: customer.id}));
  assert.strictEqual(card.customer, customer.id);
  await seen(stripe.customers.update(
    customer.id, {invoice_settings: {default_payment_method: card.id}}));
  out.card = {brand: card.card.brand, last4: card.card.last4};

  const product = await seen(stripe.products.create({name: 'Lifecycle plan'}));
  const prices = {};
  for (const [name, amount] of [['basic', 1000], ['pro', 3100]]) {
    prices[name] = await seen(stripe.prices.create({
      product: product.id, currency: 'usd', unit_amount: amount,
      recurring: {interval: 'month'}, lookup_key: `lifecycle_${name}`,
    }));
  }

  let sub = await seen(stripe.subscriptions.create({
    customer: customer.id, items: [{price: prices.basic.id}], trial_period_days: 7,
    expand: ['latest_invoice'],
  }));
  out.created = {
    status: sub.status, trial_end: sub.trial_end, invoice: invoiceSummary(sub.latest_invoice),
  };

  await advance(clock.id, T0 + 7 * DAY + HOUR);
  sub = await seen(stripe.subscriptions.retrieve(sub.id, {expand: ['latest_invoice']}));
  const item = sub.items.data[0];
  out.after_trial = {
    status: sub.status,
    period: [item.current_period_start, item.current_period_end],
    invoice: invoiceSummary(sub.latest_invoice),
  };
  const paid = await seen(stripe.invoices.list({subscription: sub.id, status: 'paid'}));
  out.paid_invoices = paid.data.length;

  const changeAt = item.current_period_end - 10 * DAY;
  await advance(clock.id, changeAt);
  sub = await seen(stripe.subscriptions.update(sub.id, {
    items: [{id: item.id, price: prices.pro.id}],
    proration_behavior: 'always_invoice',
    expand: ['latest_invoice'],
  }));
  out.upgraded = {
    status: sub.status,
    price: sub.items.data[0].price.lookup_key,
    invoice: invoiceSummary(sub.latest_invoice),
  };

  sub = await seen(stripe.subscriptions.update(sub.id, {cancel_at_period_end: true}));
  out.cancel_at_period_end = {
    status: sub.status,
    cancel_at_period_end: sub.cancel_at_period_end,
    cancel_at_is_period_end: sub.cancel_at === sub.items.data[0].current_period_end,
  };
  sub = await seen(stripe.subscriptions.update(sub.id, {cancel_at_period_end: false}));
  out.renewed = {
    status: sub.status, cancel_at_period_end: sub.cancel_at_period_end, cancel_at: sub.cancel_at,
  };

  sub = await seen(stripe.subscriptions.cancel(sub.id));
  out.canceled = {status: sub.status, ended_at_is_now: sub.ended_at === changeAt};

  const cardless = await seen(
    stripe.customers.create({email: 'cardless@example.com', test_clock: clock.id}));
  let trial = await seen(stripe.subscriptions.create({
    customer: cardless.id, items: [{price: prices.basic.id}], trial_period_days: 3,
    trial_settings: {end_behavior: {missing_payment_method: 'pause'}},
  }));
  await advance(clock.id, changeAt + 3 * DAY + HOUR);
  trial = await seen(stripe.subscriptions.retrieve(trial.id));
  out.paused = {status: trial.status, has_status_details: 'status_details' in trial};
  const card2 = await seen(
    stripe.paymentMethods.attach('pm_card_mastercard', {customer: cardless.id}));
  await seen(stripe.subscriptions.update(trial.id, {default_payment_method: card2.id}));
  trial = await seen(stripe.subscriptions.resume(trial.id, {expand: ['latest_invoice']}));
  out.resumed = {status: trial.status, invoice: invoiceSummary(trial.latest_invoice)};

  const listing = stripe.events.list({limit: 100});
  await seen(listing);
  const events = await listing.autoPagingToArray({limit: 10000});
  events.reverse();
  out.events = events.map((event) => event.type);
  out.event_api_versions = [...new Set(events.map((event) => event.api_version))].sort();

  out.stripe_versions = versions;
  out.calls = calls;
  return out;
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
