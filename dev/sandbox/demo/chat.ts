// The sandbox's chat page: a login form and a message list over the Strophe app (strophe-app.ts).
const params = new URLSearchParams(location.search);
const domain = params.get('domain') ?? 'example.com';
const discovery = params.get('discovery') ?? undefined;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

$('domain').textContent = domain;
const user = $<HTMLSelectElement>('user');
const other = () => `${user.value === 'alice' ? 'bob' : 'alice'}@${domain}`;
const syncDefaults = () => {
  $<HTMLInputElement>('password').value = `${user.value}-password`;
  $<HTMLInputElement>('to').value = other();
};
user.addEventListener('change', syncDefaults);
syncDefaults();

function line(cls: string, who: string, body: string): void {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = `${who}: ${body}`;
  $('messages').append(p);
}

let shown = 0;
setInterval(() => {
  const messages = window.app?.state.messages ?? [];
  for (; shown < messages.length; shown++) line('them', messages[shown]!.from.split('/')[0]!, messages[shown]!.body);
}, 200);

$<HTMLFormElement>('login').addEventListener('submit', (e) => {
  e.preventDefault();
  void window.app.login({ domain, ...(discovery ? { discovery } : {}), allowInsecure: location.protocol === 'http:', jid: `${user.value}@${domain}`, password: $<HTMLInputElement>('password').value });
});
$<HTMLFormElement>('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const body = $<HTMLInputElement>('body');
  const to = $<HTMLInputElement>('to').value;
  window.app.send(to, body.value);
  line('me', 'me', body.value);
  body.value = '';
});
