import { test } from 'node:test';
import assert from 'node:assert/strict';
import { html, rawHtml } from '../../../src/console/html.js';

// The formatter lays out templates tagged `html`; these tests compare exact strings.
const h = html;

test('interpolated text is escaped, in content and in attributes', () => {
  const room = `<script>alert("x")</script>' onmouseover='x`;
  const out = h`<td title="${room}">${room}</td>`.text;
  assert.equal(
    out,
    '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x</td>',
  );
});

test('markup built by the tag nests unescaped; lists join; nullish and booleans render nothing', () => {
  const cells = ['a&b', 'c'].map((c) => h`<td>${c}</td>`);
  assert.equal(
    h`<tr>${cells}${null}${undefined}${false}${0}</tr>`.text,
    '<tr><td>a&amp;b</td><td>c</td>0</tr>',
  );
  assert.equal(h`${rawHtml('<b>kept</b>')}`.text, '<b>kept</b>');
});
