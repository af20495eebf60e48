// Runs the official openai SDK against an arbor server; prints one JSON object with what it got.
import OpenAI from 'openai';

const [baseURL, prompt, maxTokens] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 60000 });
const out = {};

const models = await client.models.list();
out.models = models.data.map(m => m.id);

const chat = await client.chat.completions.create({
  model: 'tiny', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0 });
out.chat = { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason,
             fingerprint: chat.system_fingerprint, usage: chat.usage };

let text = '', finish = null, usage = null;
const chatStream = await client.chat.completions.create({
  model: 'tiny', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0,
  stream: true, stream_options: { include_usage: true } });
for await (const c of chatStream) {
  if (c.usage) usage = c.usage;
  if (c.choices.length === 0) continue;
  text += c.choices[0].delta.content ?? '';
  if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
}
out.chatStream = { text, finish, usage };

const comp = await client.completions.create({ model: 'tiny', prompt, max_tokens: maxTokens, temperature: 0 });
out.completion = { text: comp.choices[0].text, finish: comp.choices[0].finish_reason, usage: comp.usage };

text = ''; finish = null;
const compStream = await client.completions.create({ model: 'tiny', prompt, max_tokens: maxTokens, temperature: 0, stream: true });
for await (const c of compStream) {
  text += c.choices[0]?.text ?? '';
  if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
}
out.completionStream = { text, finish };

try {
  await client.completions.create({ model: 'nope', prompt, max_tokens: 2 });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, code: e.code, type: e.type, message: e.message };
}
console.log(JSON.stringify(out));
